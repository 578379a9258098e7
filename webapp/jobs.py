"""Background work: processing a finalised capture.

Where it runs: with ``CELERY_BROKER_URL`` set, on Celery workers (``webapp.celery_app``);
otherwise in-process: ``SITETWIN_JOBS=thread`` (default) a worker thread per web process,
``worker`` a ``sitetwin worker`` process polling the database for queued captures, ``sync``
inline (tests and scripts). A
job that dies leaves its capture ``processing``/``failed`` and retryable: processing writes
everything in one transaction, so a retry cannot duplicate anything.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app
from sqlalchemy import update

log = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None


def enqueue_capture(capture_id: int) -> None:
    app = current_app._get_current_object()
    if app.config.get("CELERY_BROKER_URL"):
        from webapp.celery_app import configure, process_capture_task

        configure(app.config["CELERY_BROKER_URL"])
        process_capture_task.apply_async(args=[capture_id])
        return
    if app.config.get("SITETWIN_JOBS", "thread") == "worker":
        return  # a `sitetwin worker` process polls the database for queued captures
    if app.config.get("SITETWIN_JOBS", "thread") == "sync":
        process_uploaded_capture(capture_id, app)
        return
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitetwin-job")
    _executor.submit(process_uploaded_capture, capture_id, app)


def _fail(capture_id: int, message: str) -> str:
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.messages import public_message
    from webapp.services.uploads import upload_dir

    db.session.rollback()
    capture = db.session.get(Capture, capture_id)
    # Shown to the camera and on the dashboard: no server path in it.
    roots = [str(upload_dir(current_app.config, capture)), current_app.config["SITETWIN_DATA_DIR"]]
    capture.state, capture.error = "failed", public_message(message, roots)
    db.session.commit()
    return "failed"


def prepare_capture(capture_id: int) -> int | None:
    """Mark the capture processing and take a video's frames; its frame count, or None when there
    is nothing to do (gone, already processed, or failed here). Needs an app context."""
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.uploads import extract_video_frames, is_video_capture, uploaded_manifest

    config = current_app.config
    capture = db.session.get(Capture, capture_id)
    if capture is None or capture.state == "processed":
        return None
    capture.state, capture.progress, capture.error = "processing", 0.0, None
    db.session.commit()
    try:
        if is_video_capture(config, capture):
            extract_video_frames(config, capture)
        return len(uploaded_manifest(config, capture).frames)
    except Exception as error:
        log.exception("capture %s: not a processable capture", capture_id)
        _fail(capture_id, f"{type(error).__name__}: {error}")
        return None


def _progress(capture_id: int, total: int):
    """Progress callback adding this worker's frames to the capture's share done (chunks add up)."""
    from webapp.extensions import db
    from webapp.models import Capture

    state = {"reported": 0}

    def progress(done: int) -> None:  # its own short transaction, visible while the job runs
        step, state["reported"] = done - state["reported"], done
        with db.engine.begin() as connection:
            connection.execute(update(Capture).where(Capture.id == capture_id)
                               .values(progress=Capture.progress + step / total * 0.95))

    return progress


def _uploaded(capture_id: int, frames: list[int] | None = None):
    """(project, upload folder on this host) of an uploaded capture: its manifest and ``frames``
    (default: all) fetched from the storage."""
    from webapp.extensions import db
    from webapp.models import Capture, Project
    from webapp.services.uploads import local_upload_dir

    capture = db.session.get(Capture, capture_id)
    return db.session.get(Project, capture.project_id), local_upload_dir(current_app.config, capture, frames)


def register_chunk(capture_id: int, indices: list[int]) -> list[dict]:
    """Register frames ``indices`` of an uploaded capture (one chunk); plain data for :func:`finish_capture`."""
    import json

    from vision.capture import parse_manifest
    from vision.detector_process import shared_detector
    from webapp.extensions import db
    from webapp.services.processing import capture_context, register_frames

    project, folder = _uploaded(capture_id, indices)  # only this chunk's frames on this host
    manifest = parse_manifest(json.loads((folder / "capture.json").read_text()), "capture.json")
    _, twin, scene, believed = capture_context(db.session, current_app.config["SITETWIN_DATA_DIR"], project)
    db.session.remove()
    frames = register_frames(twin, scene, believed, folder, manifest, indices, shared_detector(),
                             progress=_progress(capture_id, len(manifest.frames)))
    return [frame.to_dict() for frame in frames]


def finish_capture(capture_id: int, registered: list[dict] | None = None) -> str:
    """Register what is not registered yet, store the capture in one transaction, refresh the report."""
    from vision.capture import read_capture
    from vision.detector_process import shared_detector
    from webapp.extensions import db
    from webapp.models import Project
    from webapp.services.processing import RegisteredFrame, process_capture
    from webapp.services.reports import progress_report

    project, folder = _uploaded(capture_id)
    try:
        total = len(read_capture(folder).frames)
        process_capture(db.session, current_app.config["SITETWIN_DATA_DIR"], project.name, folder,
                        shared_detector(),
                        progress=_progress(capture_id, total),
                        registered=[RegisteredFrame.from_dict(r) for r in registered or ()])
    except Exception as error:
        log.exception("capture %s failed", capture_id)
        state = _fail(capture_id, f"{type(error).__name__}: {error}")
        db.session.remove()
        return state
    try:  # the overview reads the stored report: recompute it now, not on a manager's page view
        progress_report(db.session, db.session.get(Project, project.id))
    except Exception:  # the capture is processed; a report that fails here is recomputed on view
        db.session.rollback()
        log.exception("progress report of project %s after capture %s", project.id, capture_id)
    finally:
        db.session.remove()
    return "processed"


def process_uploaded_capture(capture_id: int, app: Flask | None = None) -> str:
    """Process an uploaded capture in this process; records failure on the capture instead of losing it.

    Returns the capture's final state ("processed", "failed", or "missing")."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Capture

    app = app or create_app()
    with app.app_context():
        try:
            if prepare_capture(capture_id) is None:
                capture = db.session.get(Capture, capture_id)
                return capture.state if capture is not None else "missing"
            return finish_capture(capture_id)
        finally:
            db.session.remove()


def claim_queued(app: Flask) -> int | None:
    """Take the oldest queued capture for this worker (compare-and-set on its state)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Capture

    with app.app_context():
        try:
            capture_id = db.session.scalar(select(Capture.id).where(Capture.state == "queued")
                                           .order_by(Capture.id).limit(1))
            if capture_id is None:
                return None
            claimed = db.session.execute(update(Capture).where(Capture.id == capture_id, Capture.state == "queued")
                                         .values(state="processing"))
            db.session.commit()
            return capture_id if claimed.rowcount == 1 else None
        finally:
            db.session.remove()


def run_worker(app: Flask, poll_seconds: float = 2.0, once: bool = False) -> None:
    """The database-polling worker: process queued captures one at a time."""
    import time

    while True:
        capture_id = claim_queued(app)
        if capture_id is not None:
            process_uploaded_capture(capture_id, app)
        elif once:
            return
        else:
            time.sleep(poll_seconds)
