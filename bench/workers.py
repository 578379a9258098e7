"""Workers scale out: the same capture processed by one and by two Celery workers on Redis.

A capture's frames are registered in chunks (``SITETWIN_CHUNK_FRAMES``, a Celery chord) that any
worker takes, and the last step stores the capture in one transaction; so one capture goes faster
with a second worker. Each run starts from the same state: a fresh PostgreSQL database, the same
generated building ingested, the same simulated walk(s) uploaded through the API, the workers
started and ready (each a ``sitetwin worker`` process, as ``docker compose up --scale worker=2``
runs them, its detector warmed up) before the capture is finalised; the time is from finalise to
processed.

Each worker is held to ``--threads`` threads (default 1: OMP/torch, tessellation) and, with one
thread, to one core (taskset), so that one worker is one core's worth of work and the second
worker's core is what is measured. Unpinned, a lone worker already spreads detection and ray
casting over every core and the figure says more about torch's intra-op threads than the queue.

    .venv/bin/python bench/workers.py [--captures 1] [--frames 8] [--chunk 2] [--threads 1] [--write]

Needs PostgreSQL (a database ``sitetwin_workers``, or ``$WORKERS_DATABASE``, is dropped and
created) and Redis on localhost (db 13, or ``$WORKERS_BROKER``; flushed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale import fresh_database  # noqa: E402  (bench/scale.py's, on the admin connection it uses)

OUT = REPO / "bench" / "out" / "workers"
DATABASE = os.environ.get("WORKERS_DATABASE", "sitetwin_workers")
DATABASE_URL = f"postgresql+psycopg://postgres@localhost/{DATABASE}"
BROKER = os.environ.get("WORKERS_BROKER", "redis://127.0.0.1:6379/13")
TARGET = 1.7
PROJECT = "Workers"


def log(message: str) -> None:
    print(f"[workers] {message}", file=sys.stderr, flush=True)


CHUNK = 2


def env(threads: int) -> dict[str, str]:
    pinned = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "SITETWIN_THREADS")}
    return {**os.environ, **pinned, "DATABASE_URL": DATABASE_URL, "SITETWIN_DATA_DIR": str(OUT / "data"),
            "CELERY_BROKER_URL": BROKER, "SITETWIN_AUTO_MIGRATE": "0", "SITETWIN_CHUNK_FRAMES": str(CHUNK)}


def prepare_walks(captures: int, frames: int, width: int) -> tuple[Path, dt.date]:
    """The building and the walks, simulated once (in a throw-away SQLite twin) and reused."""
    from twin.generate import generate_building
    from webapp import create_app
    from webapp.db import upgrade_to_head
    from webapp.extensions import db
    from webapp.services.ingest import ingest_model
    from webapp.services.simulation import simulate_project_capture

    start = dt.date.today() - dt.timedelta(days=120)
    walks = OUT / f"walks-{captures}x{frames}x{width}"
    if (walks / "done").is_file():
        return walks, start
    shutil.rmtree(walks, ignore_errors=True)
    walks.mkdir(parents=True)
    generate_building(walks / "building.ifc", storeys=2, bays=(3, 2), seed=9, start=start)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{walks / 'sim.sqlite3'}",
                      "SITETWIN_DATA_DIR": str(walks / "sim")})
    with app.app_context():
        upgrade_to_head()
        ingest_model(db.session, walks / "building.ifc", PROJECT, walks / "sim")
        for c in range(captures):  # a walk a week, the last one a week ago
            date = dt.date.today() - dt.timedelta(days=7 * (captures - c))
            log(f"simulating walk {c + 1}/{captures} ({date})")
            simulate_project_capture(db.session, walks / "sim", PROJECT, date, walks / f"walk-{c}", frames=frames,
                                     width=width, seed=c)
        db.session.remove()
        db.engine.dispose()
    (walks / "done").touch()
    return walks, start


def fresh_state(walks: Path, threads: int) -> tuple[list[int], dict[str, str]]:
    """A fresh database with the building ingested and every walk uploaded (not finalised)."""
    import redis

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import ApiToken
    from webapp.services.twins import get_project

    fresh_database(DATABASE)
    redis.Redis.from_url(BROKER).flushdb()
    shutil.rmtree(OUT / "data", ignore_errors=True)
    environment = env(threads)
    for command in (["db", "upgrade"], ["ingest", str(walks / "building.ifc"), "--project", PROJECT]):
        subprocess.run([sys.executable, "-m", "webapp", *command], env=environment, check=True, capture_output=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "SITETWIN_DATA_DIR": str(OUT / "data"),
                      "CELERY_BROKER_URL": BROKER})
    with app.app_context():
        token, secret = ApiToken.issue(get_project(db.session, PROJECT).id, "bench-camera")
        db.session.add(token)
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    ids = []
    for walk in sorted(walks.glob("walk-*"), key=lambda p: int(p.name.split("-")[1])):
        manifest = json.loads((walk / "capture.json").read_text())
        response = client.post("/api/v1/captures", data=json.dumps(manifest), content_type="application/json",
                               headers=headers)
        assert response.status_code == 201, response.get_json()
        capture = response.get_json()["id"]
        for index, frame in enumerate(manifest["frames"]):
            response = client.put(f"/api/v1/captures/{capture}/frames/{index}", headers=headers,
                                  data={"file": (io.BytesIO((walk / frame["file"]).read_bytes()), "f.jpg")},
                                  content_type="multipart/form-data")
            assert response.status_code == 201, response.get_json()
        ids.append(capture)
    return ids, headers


def run(workers: int, walks: Path, threads: int) -> dict:
    from webapp import create_app

    ids, headers = fresh_state(walks, threads)
    logs = [OUT / f"worker-{workers}-{k}.log" for k in range(workers)]
    # Worker k on core k (taskset), where --threads 1: Open3D's ray casting takes every core it
    # sees whatever OMP_NUM_THREADS says, so only the affinity makes one worker one core.
    pin = threads == 1 and shutil.which("taskset") and (os.cpu_count() or 1) >= workers
    outputs = [path.open("w") for path in logs]
    processes = [subprocess.Popen([*(["taskset", "-c", str(k)] if pin else []), sys.executable, "-m", "webapp",
                                   "worker", "--concurrency", "1", "--name", f"bench{k}@%h"], env=env(threads),
                                  stdout=out, stderr=subprocess.STDOUT) for k, out in enumerate(outputs)]
    try:
        deadline = time.time() + 180
        # Ready: Celery's own line, and the worker process's detector warmed up (it is only then
        # that the worker takes a task).
        while not all(" ready." in text and (" ready in " in text or "not warmed up" in text)
                      for text in (path.read_text() for path in logs)):
            if time.time() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker did not start: " + logs[0].read_text()[-2000:])
            time.sleep(0.5)
        log(f"{workers} worker(s) ready; finalising {len(ids)} captures")
        app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "SITETWIN_DATA_DIR": str(OUT / "data"),
                          "CELERY_BROKER_URL": BROKER})
        client = app.test_client()
        start = time.perf_counter()
        for capture in ids:
            assert client.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 202
        states = {}
        while time.perf_counter() - start < 1800:
            states = {c: client.get(f"/api/v1/captures/{c}", headers=headers).get_json()["state"] for c in ids}
            if all(s in ("processed", "failed") for s in states.values()):
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - start
    finally:
        for process in processes:
            process.terminate()
        for process, out in zip(processes, outputs, strict=True):
            process.wait(timeout=60)
            out.close()
    if any(s != "processed" for s in states.values()):
        raise RuntimeError(f"captures not processed: {states}; see {logs}")
    tasks = [len(re.findall(r"Task sitetwin\.register_chunk\[[^]]+\] succeeded", path.read_text())) for path in logs]
    load = os.getloadavg()[0]
    log(f"{workers} worker(s): {len(ids)} capture(s) in {seconds:.1f} s, chunks per worker {tasks}, load {load:.1f}")
    return {"workers": workers, "seconds": round(seconds, 1), "chunks_per_worker": tasks, "pinned": bool(pin),
            "load_average": round(load, 1)}


def main() -> None:
    global CHUNK
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=int, default=1)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="frames per chunk (SITETWIN_CHUNK_FRAMES)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (OMP/torch, tessellation)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    CHUNK = args.chunk
    walks, _ = prepare_walks(args.captures, args.frames, args.width)
    one = run(1, walks, args.threads)
    two = run(2, walks, args.threads)
    speedup = one["seconds"] / two["seconds"]
    result = {"captures": args.captures, "frames": args.frames, "width": args.width, "chunk": args.chunk,
              "threads": args.threads, "cores": os.cpu_count(), "one": one, "two": two, "speedup": round(speedup, 2)}
    if args.write:
        from bench_doc import write_section

        verdict = "met" if speedup >= TARGET else "**missed**"
        write_section("Workers scale out (`bench/workers.py`)", [
            f"The same {'capture' if args.captures == 1 else f'{args.captures} captures'} ({args.frames} frames of "
            f"{args.width} px, simulated, uploaded through the API) processed by one and by two `sitetwin worker` "
            f"processes (Celery on Redis, {args.threads} thread(s) each"
            f"{', one core each (taskset)' if one['pinned'] else ''}) on a {os.cpu_count()}-core machine, each run "
            f"from a fresh PostgreSQL database, timed from finalise to processed. Frames are registered in chunks of "
            f"{args.chunk} that either worker takes; the last step stores the capture in one transaction.", "",
            "| workers | seconds | chunks taken per worker | load average |",
            "|---:|---:|---|---:|",
            *(f"| {r['workers']} | {r['seconds']} | {r['chunks_per_worker']} | {r['load_average']} |"
              for r in (one, two)), "",
            f"Speed-up: **{speedup:.2f}×** (target ≥ {TARGET}× where the cores are there: {verdict}). What the "
            "second worker does not share: each worker loads the detector and the twin once, and the last step "
            "(fusion and the one transaction) runs on one worker; the second core is also PostgreSQL's, Redis's and "
            "this bench's polling client's.", "",
            f"Reproduce: `.venv/bin/python bench/workers.py --captures {args.captures} --frames {args.frames} "
            f"--chunk {args.chunk} --threads {args.threads} --write`"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
