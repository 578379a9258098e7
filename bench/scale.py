"""The 150,000-element scale run on PostgreSQL: ingest, fusion of 1,000,000 observations, and the
dashboard and API under concurrent load.

Stages (run all, or some with --stages; each keeps what later stages need in bench/out/scale/):
  * ingest — a generated building of ≥ 150,000 elements (`generate_building(storeys=20, bays=(25, 20))`)
    ingested by a fresh `sitetwin ingest` process into an empty PostgreSQL database, against a bare
    `ifcopenshell.geom.iterator` over the same file in a fresh process with the same threads: wall
    time and peak resident memory (each process's own, from wait4).
  * fusion — 1,000,000 synthetic observations (ten captures of 100 frames; every tracked element
    seen several times, installed, absent or not visible) written with COPY, then the project's
    fusion over all of them (`webapp.services.processing.refuse`: read, fuse, store statuses).
    Target ≤ 60 s. Then the fit alone over the same observations in memory: the reference
    `twin.fusion.fuse` against the vectorised `fuse_arrays` that refuse uses.
  * load — gunicorn (2 workers × 4 threads) on loopback, wrk (2 threads, 8 connections, 15 s per
    endpoint) on the overview, a storey's floor plan (page, SVG, status map), an element page
    and the API's capture status: p50/p95/p99 latency and errors. Target: overview and floor
    plan p95 ≤ 200 ms, no errors.

    .venv/bin/python bench/scale.py [--stages ingest fusion load] [--write]

Needs PostgreSQL on localhost (TEST_POSTGRES_URL's server; a database ``sitetwin_scale``, or
``$SCALE_DATABASE``, is dropped and created) and, for the load stage, ``wrk`` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import FLOOR  # noqa: E402  (the same bare-iterator floor as bench/ingest.py)

OUT = REPO / "bench" / "out" / "scale"
ADMIN_URL = os.environ.get("SCALE_POSTGRES_ADMIN", "postgresql://postgres@localhost/postgres")
# Its own database (dropped and created), named by SCALE_DATABASE where two runs share a server.
DATABASE = os.environ.get("SCALE_DATABASE", "sitetwin_scale")
DATABASE_URL = f"postgresql+psycopg://postgres@localhost/{DATABASE}"
STOREYS, BAYS = 20, (25, 20)
OBSERVATIONS = 1_000_000
FUSION_TARGET_S = 60.0
P95_TARGET_MS = 200.0
PROJECT = "Scale"
EMAIL, PASSWORD = "bench@sitetwin.example", "bench-password"


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def env() -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "SITETWIN_DATA_DIR": str(OUT / "data"),
            "SITETWIN_THREADS": str(os.cpu_count() or 1)}


def measured(cmd: list[str], environment: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of ``cmd`` as a fresh process: a small wrapper runs it
    and reports its child's resource usage, which is that process's alone."""
    probe = ("import os, resource, subprocess, sys, time, json; start = time.perf_counter(); "
             "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "sys.stderr.write(done.stderr[-3000:]); "
             "print(json.dumps({'wall': time.perf_counter() - start, 'rss_kib': usage.ru_maxrss, "
             "'rc': done.returncode, 'out': done.stdout}))")
    done = subprocess.run([sys.executable, "-c", probe, *cmd], env=environment, capture_output=True, text=True)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed: {done.stderr[-2000:]}")
    return result["wall"], result["rss_kib"] / 1024, result["out"]


def fresh_database(name: str = DATABASE) -> None:
    """Drop and create the PostgreSQL database ``name`` (bench/workers.py uses its own)."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


def building() -> Path:
    from twin.generate import generate_building

    path = OUT / f"building-{STOREYS}x{BAYS[0]}x{BAYS[1]}.ifc"
    if not path.is_file():
        log(f"generating {path.name}")
        OUT.mkdir(parents=True, exist_ok=True)
        start = dt.date.today() - dt.timedelta(days=120)
        generate_building(path.with_suffix(".tmp"), storeys=STOREYS, bays=BAYS, seed=1, start=start)
        path.with_suffix(".tmp").rename(path)
    return path


def stage_ingest() -> dict:
    path = building()
    threads = int(env()["SITETWIN_THREADS"])
    log(f"floor: bare iterator over {path.name}, {threads} threads")
    floor_before_s, floor_mib, out = measured([sys.executable, "-c", FLOOR, str(path), str(threads)], env())
    shapes = int(out.split()[1])
    fresh_database()
    subprocess.run(["rm", "-rf", str(OUT / "data")], check=True)
    subprocess.run([sys.executable, "-m", "webapp", "db", "upgrade"], env=env(), check=True, capture_output=True)
    log("ingest: sitetwin ingest into PostgreSQL")
    ingest_s, ingest_mib, out = measured([sys.executable, "-m", "webapp", "ingest", str(path), "--project", PROJECT,
                                          "--json"], env())
    report = json.loads(out)
    # The floor again after the ingest: on a shared machine the load changes over ten minutes, and
    # the ratio is against the mean of the two floors that bracket the ingest.
    log("floor again")
    floor_after_s, floor_after_mib, _ = measured([sys.executable, "-c", FLOOR, str(path), str(threads)], env())
    floor_s, floor_mib = (floor_before_s + floor_after_s) / 2, max(floor_mib, floor_after_mib)
    log("schedule import")
    schedule_s, _, _ = measured([sys.executable, "-m", "webapp", "schedule", "import", str(path), "--project",
                                 PROJECT, "--json"], env())
    return {"file": path.name, "mb": round(path.stat().st_size / 1e6, 1), "elements": report["elements"],
            "with_geometry": report["with_geometry"], "triangles": report["triangles"], "shapes": shapes,
            "threads": threads, "floor_s": round(floor_s, 1), "floor_before_s": round(floor_before_s, 1),
            "floor_after_s": round(floor_after_s, 1), "floor_peak_mib": round(floor_mib),
            "ingest_s": round(ingest_s, 1), "ingest_peak_mib": round(ingest_mib),
            "ratio_s": round(ingest_s / floor_s, 2), "ratio_memory": round(ingest_mib / floor_mib, 2),
            "schedule_import_s": round(schedule_s, 1)}


def _app():
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "SITETWIN_DATA_DIR": str(OUT / "data")})


def stage_fusion() -> dict:
    """1,000,000 synthetic observations written with COPY, then fused; the write is not timed."""
    from sqlalchemy import delete, func, select, text

    from twin import taxonomy
    from webapp.extensions import db
    from webapp.models import (
        Capture,
        Element,
        ElementStatus,
        ElementStatusChange,
        Frame,
        Observation,
        Project,
    )
    from webapp.services.processing import refuse
    from webapp.services.reports import progress_report
    from webapp.services.twins import current_revision

    app = _app()
    rng = random.Random(7)
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.name == PROJECT))
        revision = current_revision(db.session, project)
        elements = db.session.execute(select(Element.global_id, Element.tracked_class, Element.storey_id)
                                      .where(Element.revision_id == revision.id, Element.tracked_class.is_not(None),
                                             Element.physical)).all()
        for model in (Observation, Frame, Capture, ElementStatusChange, ElementStatus):
            db.session.execute(delete(model))
        db.session.commit()
        captures, frames_per_capture = 10, 100
        today = dt.datetime.now(dt.UTC).replace(microsecond=0)
        frame_ids = []
        for c in range(captures):
            started = today - dt.timedelta(days=7 * (captures - c))
            capture = Capture(project_id=project.id, revision_id=revision.id, key=f"scale-{c}", started_at=started,
                              state="processed", progress=1.0)
            db.session.add(capture)
            db.session.flush()
            for k in range(frames_per_capture):
                frame = Frame(capture_id=capture.id, index=k, file=f"frames/scale-{c}-{k}.jpg",
                              sha256=f"{c:04d}{k:060d}", taken_at=started + dt.timedelta(seconds=5 * k),
                              width=2048, height=1024, pose_prior=[0, 0, 1.7, 0, 0, 0], pose=[0, 0, 1.7, 0, 0, 0])
                db.session.add(frame)
                db.session.flush()
                frame_ids.append((c, frame.id))
        db.session.commit()
        log(f"writing {OBSERVATIONS:,} observations of {len(elements):,} elements")
        # Each element is seen in ~OBSERVATIONS / len(elements) frames, one (frame, element) pair at most;
        # an element is installed from a random capture on (its stage climbing), absent before.
        per_element = max(1, OBSERVATIONS // len(elements))
        buffer, written = io.StringIO(), 0
        frames_by_capture = [[fid for cc, fid in frame_ids if cc == c] for c in range(captures)]
        extra = OBSERVATIONS - per_element * len(elements)  # the first `extra` elements are seen once more
        for e, (gid, tracked, _) in enumerate(elements):
            final = taxonomy.BY_NAME[tracked].final_stage
            installed_from = rng.randrange(captures + 3)
            count = per_element + (1 if e < extra else 0)
            picks = sorted(rng.sample(range(captures * frames_per_capture), count))
            for pick in picks:
                c, k = divmod(pick, frames_per_capture)
                roll = rng.random()
                if roll < 0.15:
                    kind, stage, confidence = "not_visible", 0, 1.0
                elif c >= installed_from:
                    kind, stage = "installed", min(final, 1 + (c - installed_from) // 2)
                    confidence = 0.55 + 0.4 * rng.random()
                else:
                    kind, stage, confidence = "absent", 0, 0.5 + 0.25 * rng.random()
                buffer.write(f"{project.id}\t{frames_by_capture[c][k]}\t{gid}\t{kind}\t{stage}\t{confidence:.3f}"
                             f"\t{0 if kind == 'not_visible' else 400}\t\\N\n")
                written += 1
        connection = db.session.connection().connection.dbapi_connection
        with connection.cursor() as cursor:
            with cursor.copy("COPY observations (project_id, frame_id, global_id, kind, stage, confidence, "
                             "visible_pixels, region) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        db.session.commit()
        db.session.execute(text("ANALYZE observations"))
        db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(Observation))
        log(f"fusing {total:,} observations")
        final_stages = {gid: taxonomy.BY_NAME[tracked].final_stage for gid, tracked, _ in elements}
        start = time.perf_counter()
        changes = refuse(db.session, project.id, set(final_stages), final_stages, None, today)
        db.session.commit()
        fusion_s = time.perf_counter() - start
        statuses = db.session.scalar(select(func.count()).select_from(ElementStatus))
        flagged = db.session.scalar(select(func.count()).select_from(ElementStatus).where(ElementStatus.needs_review))
        log(f"fused in {fusion_s:.1f} s; the fit alone, reference against vectorised")
        fit = _fit_alone(db.session, project.id, final_stages)
        log(f"fit: reference {fit['reference_s']} s, vectorised {fit['vectorised_s']} s; the overview's report")
        start = time.perf_counter()
        progress_report(db.session, project)
        report_s = time.perf_counter() - start
        # Statistics of the statuses and history just written, as autovacuum would gather them
        # (this server runs with autovacuum off; ingest and schedule import analyse their own).
        db.session.execute(text("ANALYZE element_status"))
        db.session.execute(text("ANALYZE element_status_history"))
        db.session.commit()
        db.session.remove()
    return {"observations": total, "elements": len(elements), "statuses": statuses, "status_changes": changes,
            "flagged": flagged, "fusion_s": round(fusion_s, 1), "report_s": round(report_s, 1), **fit}


def _fit_alone(session, project_id: int, final_stages: dict[str, int]) -> dict:
    """Seconds of the fit alone over the same observations, already in memory: the reference
    ``twin.fusion.fuse`` (one element at a time, in Python) against ``fuse_arrays``; and whether
    their stages agree (the reference steps through each element's observations in Python; it is
    the slow side by design)."""
    import numpy as np
    from sqlalchemy import select

    from twin.fusion import KIND_CODES, fuse, fuse_arrays
    from twin.fusion import Observation as FusionObservation
    from webapp.models import Frame, Observation

    rows = session.execute(select(Observation.global_id, Frame.id, Frame.taken_at, Observation.kind,
                                  Observation.stage, Observation.confidence)
                           .join(Frame, Frame.id == Observation.frame_id)
                           .where(Observation.project_id == project_id)).all()
    observations = [FusionObservation(g, str(f), t, k, s, c) for g, f, t, k, s, c in rows]
    ids = sorted(final_stages)
    index = {g: i for i, g in enumerate(ids)}
    arrays = (np.array([index[r[0]] for r in rows]), np.array([r[1] for r in rows]),
              np.array([r[2].astimezone(dt.UTC).replace(tzinfo=None) for r in rows], dtype="datetime64[us]"),
              np.array([KIND_CODES[r[3]] for r in rows]), np.array([r[4] for r in rows]),
              np.array([r[5] for r in rows]), np.array([final_stages[g] for g in ids]))
    start = time.perf_counter()
    reference = fuse(observations, final_stages)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    vectorised = fuse_arrays(*arrays)
    vectorised_s = time.perf_counter() - start
    agree = all(reference[ids[e]].stage == s for e, s in zip(vectorised.element.tolist(), vectorised.stage.tolist(),
                                                             strict=True)) and len(reference) == len(vectorised.element)
    return {"reference_s": round(reference_s, 1), "vectorised_s": round(vectorised_s, 1), "fits_agree": agree}


WRK_SCRIPT = """
-- wrk counts only statuses >= 400 as errors: a redirect to the sign-in page would pass as a fast
-- success, so every thread counts responses that are not 200 itself.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body) if status ~= 200 then not_ok = not_ok + 1 end end
done = function(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  io.write(string.format("RESULT %d %d %d %d %d %.3f %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    bad, summary.duration, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


# One User-Agent for the sign-in and every request after it: Flask-Login's "strong" session
# protection drops a session whose User-Agent (or address) differs from the sign-in's.
USER_AGENT = "sitetwin-bench"


def _login(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(f"{base}/auth/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(f"{base}/auth/login", data=body)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _missing_routes(base: str, project_id: int, storey_id: int) -> list[str]:
    """The dashboard paths that 404 (anything else, a redirect to sign in included, means served)."""
    missing = []
    for path in ("/auth/login", f"/projects/{project_id}", f"/projects/{project_id}/storeys/{storey_id}/plan"):
        try:
            urllib.request.urlopen(base + path, timeout=60)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                missing.append(path)
    return missing


def stage_load(seconds: int = 15) -> dict:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import ApiToken, Capture, Element, Project, Storey

    app = _app()
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.name == PROJECT))
        storey = db.session.execute(select(Storey.id, func.count(Element.id)).join(Element, Element.storey_id == Storey.id)
                                    .where(Storey.revision_id == project.revisions[-1].id)
                                    .group_by(Storey.id).order_by(func.count(Element.id).desc())).first()
        element = db.session.scalar(select(Element.global_id).where(Element.storey_id == storey[0],
                                                                    Element.tracked_class == "wall").limit(1))
        capture = db.session.scalar(select(Capture.id).where(Capture.project_id == project.id).limit(1))
        token, secret = ApiToken.issue(project.id, "bench")
        db.session.add(token)
        db.session.commit()
        project_id = project.id
    # A second run finds the user there already; a login that then fails says so below.
    subprocess.run([sys.executable, "-m", "webapp", "user", "create", "--email", EMAIL, "--password", PASSWORD,
                    "--project", PROJECT, "--role", "manager"], env=env(), capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-w", "2", "-k", "gthread",
                               "--threads", "4", "-b", f"127.0.0.1:{port}", "--timeout", "300",
                               "webapp:create_app()"], env={**env(), "SITETWIN_AUTO_MIGRATE": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        missing = _missing_routes(base, project_id, storey[0])
        if missing:
            log(f"load stage SKIPPED: the dashboard routes answer 404 ({', '.join(missing)}); it runs once the "
                "dashboard (overview, floor plan, element pages and /auth/login) is served")
            return {"skipped": f"dashboard routes 404: {', '.join(missing)}"}
        cookie = _login(base)
        script = OUT / "wrk-report.lua"
        script.write_text(WRK_SCRIPT)
        endpoints = [
            ("overview", f"/projects/{project_id}", cookie),
            ("floor plan page", f"/projects/{project_id}/storeys/{storey[0]}/plan", cookie),
            ("floor plan SVG", f"/projects/{project_id}/storeys/{storey[0]}/plan.svg", cookie),
            ("floor plan status", f"/projects/{project_id}/storeys/{storey[0]}/status.json", cookie),
            ("element", f"/projects/{project_id}/elements/{urllib.parse.quote(element)}", cookie),
            ("API capture status", f"/api/v1/captures/{capture}", None),
        ]
        results = []
        for name, path, session in endpoints:
            headers = ["-H", f"Cookie: {session}"] if session else ["-H", f"Authorization: Bearer {secret}"]
            headers += ["-H", "Accept-Encoding: gzip", "-H", f"User-Agent: {USER_AGENT}"]
            warm = urllib.request.Request(base + path, headers=dict(h.split(": ", 1) for h in headers[1::2]))
            start = time.perf_counter()
            with urllib.request.urlopen(warm, timeout=600) as response:  # first view builds what it caches
                status, size = response.status, len(response.read())
                if response.url != base + path:
                    raise RuntimeError(f"{name}: redirected to {response.url} (not signed in?)")
            first_s = time.perf_counter() - start
            log(f"{name}: first view {first_s:.2f} s ({status}, {size:,} bytes); wrk {seconds} s")
            done = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
                                   *headers, base + path], capture_output=True, text=True, check=True)
            fields = next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split()[1:]
            requests, errors, bad_status, duration_us, size_bytes = (int(v) for v in fields[:5])
            p50, p95, p99, worst = (float(v) for v in fields[5:])
            results.append({"endpoint": name, "path": path, "first_view_s": round(first_s, 2), "bytes": size,
                            "requests": requests, "rps": round(requests / (duration_us / 1e6), 1),
                            "errors": errors + bad_status, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                            "p99_ms": round(p99, 1), "max_ms": round(worst, 1)})
            log(json.dumps(results[-1]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"storey_elements": storey[1], "results": results}


def write_doc(state: dict) -> None:
    from bench_doc import write_section

    lines = [f"Ran on {os.cpu_count()} cores shared with other work (1-minute load average at the end of each "
             "stage: " + ", ".join(f"{k} {v['load_average']}" for k, v in state.items() if "load_average" in v)
             + ").", ""]
    ingest = state.get("ingest")
    if ingest:
        lines += [
            f"PostgreSQL, {ingest['threads']} tessellation threads, each side a fresh process (peak RSS of that "
            f"process). Building: `generate_building(storeys={STOREYS}, bays={BAYS})`, {ingest['mb']} MB, "
            f"**{ingest['elements']:,} elements** ({ingest['with_geometry']:,} with geometry, "
            f"{ingest['triangles']:,} triangles).", "",
            "| | wall s | peak MiB |", "|---|---:|---:|",
            f"| bare `ifcopenshell.geom.iterator` (floor: mean of {ingest.get('floor_before_s')} s before and "
            f"{ingest.get('floor_after_s')} s after the ingest) | {ingest['floor_s']} | {ingest['floor_peak_mib']} |",
            f"| `sitetwin ingest` | {ingest['ingest_s']} | {ingest['ingest_peak_mib']} |",
            f"| ratio | **{ingest['ratio_s']}×** | **{ingest['ratio_memory']}×** |", "",
            f"Schedule import of the same file (every element linked to its task): {ingest['schedule_import_s']} s.",
            ""]
    fusion = state.get("fusion")
    if fusion:
        verdict = "met" if fusion["fusion_s"] <= FUSION_TARGET_S else "**missed**"
        lines += [
            f"Fusion: **{fusion['observations']:,} observations** of {fusion['elements']:,} tracked elements "
            f"(ten captures of 100 frames) fused in **{fusion['fusion_s']} s** (read, fuse, store "
            f"{fusion['statuses']:,} statuses and {fusion['status_changes']:,} history rows, "
            f"{fusion.get('flagged', 0):,} flagged for review; target ≤ "
            f"{FUSION_TARGET_S:.0f} s: {verdict}). The overview's progress report over them, computed once "
            f"after a capture and stored: {fusion['report_s']} s.", ""]
    if fusion and "reference_s" in fusion:
        lines += [
            f"The fit alone over the same observations, in memory: the reference `twin.fusion.fuse` (one element at a "
            f"time) {fusion['reference_s']} s, `fuse_arrays` (vectorised over elements) {fusion['vectorised_s']} s; "
            f"stages {'identical' if fusion['fits_agree'] else '**differ**'} (the filter of "
            "[fusion.md](fusion.md), vectorised over elements). Most of the old path's cost was around "
            "the fit: a Python `Observation` per row, an ORM object per status; and over a whole project it "
            "failed on PostgreSQL, whose statements bind at most 65,535 parameters (the GlobalIds' IN list). "
            "`refuse` now reads plain rows (the project's rows, filtered here, above 5,000 GlobalIds), fuses "
            "with `fuse_arrays` and writes statuses and history in bulk.", ""]
    load = state.get("load")
    if load and "skipped" in load:
        lines += [f"Load: not measured ({load['skipped']}).", ""]
    elif load:
        lines += [
            f"Load: gunicorn 2 workers × 4 threads and wrk (2 threads, 8 connections, gzip) on the same 2 cores, "
            f"15 s per endpoint; the floor plan is the largest storey ({load['storey_elements']:,} elements). "
            f"First view: the request before the run (it builds the plan SVG or the report on a cold cache).", "",
            "| endpoint | first view s | bytes | req/s | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in load["results"]:
            lines.append(f"| {r['endpoint']} | {r['first_view_s']} | {r['bytes']:,} | {r['rps']} | {r['p50_ms']} | "
                         f"**{r['p95_ms']}** | {r['p99_ms']} | {r['errors']} |")
        lines.append("")
        misses = [r for r in load["results"] if r["endpoint"].startswith(("overview", "floor plan"))
                  and (r["p95_ms"] > P95_TARGET_MS or r["errors"])]
        lines.append("Targets (overview and floor plan p95 ≤ 200 ms, no errors): " + (
            "met." if not misses else "missed by " + ", ".join(f"{r['endpoint']} ({r['p95_ms']} ms)" for r in misses)
            + "."))
        lines.append("")
    lines.append("Reproduce: `.venv/bin/python bench/scale.py --write` (stages: `--stages ingest fusion load`).")
    write_section("Scale: 150,000 elements on PostgreSQL (`bench/scale.py`)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="*", default=["ingest", "fusion", "load"],
                        choices=["ingest", "fusion", "load"])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    state_path = OUT / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    for stage in args.stages:
        state[stage] = {"ingest": stage_ingest, "fusion": stage_fusion, "load": stage_load}[stage]()
        state[stage]["load_average"] = round(os.getloadavg()[0], 1)
        state_path.write_text(json.dumps(state, indent=1))
        log(f"{stage}: {json.dumps(state[stage])}")
    if args.write:
        write_doc(state)
    print(json.dumps(state))


if __name__ == "__main__":
    main()
