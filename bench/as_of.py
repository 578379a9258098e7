"""Statuses as believed at a past date (webapp.services.as_of) at scale: 150,000 elements, their
statuses and status history (300,000 changes), and 1,000,000 observations over ten captures of
100 frames, one capture a week.

Synthetic rows written straight into a fresh database migrated to head; then the reconstruction
at the middle of the project (``statuses_on`` at a past date) against the current statuses, each
the best of three runs. Prints one JSON object on stdout, progress on stderr.

    .venv/bin/python bench/as_of.py [--database URL] [--elements 150000] [--observations 1000000]

Default database: a SQLite file in a temporary folder. For PostgreSQL, pass an empty database's URL
(its tables are created by the migrations; run it on a scratch database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CAPTURES, FRAMES_PER_CAPTURE = 10, 100
START = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_of(call, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return round(min(times), 3), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=None)
    parser.add_argument("--elements", type=int, default=150_000)
    parser.add_argument("--observations", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sitetwin-as-of-"))
    url = args.database or f"sqlite:///{folder / 'bench.sqlite3'}"

    from webapp import create_app
    from webapp.db import upgrade_to_head
    from webapp.extensions import db
    from webapp.models import Capture, ElementStatus, ElementStatusChange, Frame, Observation, Project
    from webapp.services.as_of import statuses_on

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SITETWIN_DATA_DIR": str(folder / "data")})
    rng = np.random.default_rng(0)
    with app.app_context():
        upgrade_to_head()
        session = db.session
        project = Project(name="scale")
        session.add(project)
        session.flush()
        gids = [f"E{k:021d}" for k in range(args.elements)]
        frames = []
        for c in range(CAPTURES):
            when = START + dt.timedelta(days=7 * c)
            capture = Capture(project_id=project.id, key=f"walk-{c}", started_at=when, state="processed")
            session.add(capture)
            session.flush()
            rows = [{"capture_id": capture.id, "index": i, "file": "f.jpg", "sha256": f"{c}-{i}",
                     "taken_at": when + dt.timedelta(seconds=i), "width": 2, "height": 1, "pose_prior": [0, 0, 0, 0]}
                    for i in range(FRAMES_PER_CAPTURE)]
            session.execute(insert(Frame), rows)
            frames.append((capture.id, when))
        session.flush()
        frame_ids = np.array(sorted(session.scalars(select(Frame.id).join(Capture).where(
            Capture.project_id == project.id))), dtype=np.int64)
        log(f"writing {args.observations} observations")
        kinds = np.array(["installed", "absent", "not_visible"])
        for start in range(0, args.observations, 100_000):
            n = min(100_000, args.observations - start)
            k = np.arange(start, start + n)  # observation k: frame k mod F, a distinct element per frame
            frame = frame_ids[k % len(frame_ids)]
            element = (k // len(frame_ids) + 131 * (k % len(frame_ids))) % args.elements
            kind = kinds[rng.integers(0, 3, n)]
            session.execute(insert(Observation), [
                {"project_id": project.id, "frame_id": int(f), "global_id": gids[e], "kind": str(k), "stage": 1,
                 "confidence": 0.8} for e, f, k in zip(element.tolist(), frame.tolist(), kind.tolist(), strict=True)])
        log("writing the statuses (first and last seen, as fusion stores them)")
        seen = session.execute(select(Observation.global_id, func.min(Frame.taken_at), func.max(Frame.taken_at))
                               .join(Frame, Frame.id == Observation.frame_id)
                               .where(Observation.kind.in_(("installed", "absent")))
                               .group_by(Observation.global_id)).all()
        session.execute(insert(ElementStatus), [
            {"project_id": project.id, "global_id": gid, "stage": 1, "probability": 0.9, "first_seen": first,
             "last_seen": last, "reached_at": [], "needs_review": False} for gid, first, last in seen])
        log("writing the status history (one to three changes per element)")
        history = []
        for k, gid in enumerate(gids):
            for step in range(1 + k % 3):
                capture_id, when = frames[min(CAPTURES - 1, (k + 3 * step) % CAPTURES)]
                history.append({"project_id": project.id, "global_id": gid, "stage": step + 1, "previous_stage": step,
                                "probability": 0.9, "needs_review": False, "capture_id": capture_id,
                                "changed_at": when})
        for start in range(0, len(history), 100_000):
            session.execute(insert(ElementStatusChange), history[start:start + 100_000])
        session.commit()
        from webapp.db import analyze

        analyze(session, Observation, Frame, ElementStatus, ElementStatusChange)
        middle = (START + dt.timedelta(days=7 * CAPTURES // 2)).date()
        log(f"reconstructing the statuses on {middle}")
        past_s, past = best_of(lambda: statuses_on(session, project.id, middle))
        now_s, now = best_of(lambda: statuses_on(session, project.id, None))
        print(json.dumps({
            "database": url.split(":")[0], "elements": args.elements, "observations": args.observations,
            "history_rows": len(history), "date": middle.isoformat(), "as_of_s": past_s, "elements_known_then": len(past),
            "current_s": now_s, "elements_known_now": len(now),
        }))


if __name__ == "__main__":
    main()
