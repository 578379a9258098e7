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
        from webapp.celery_app import celery, process_capture_task

        celery.conf.broker_url = app.config["CELERY_BROKER_URL"]
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


def process_uploaded_capture(capture_id: int, app: Flask | None = None) -> str:
    """Process an uploaded capture; records failure on the capture instead of losing it.

    Returns the capture's final state ("processed", "failed", or "missing")."""
    from vision.detect import load_detector
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Capture, Project
    from webapp.services.processing import process_capture
    from webapp.services.reports import progress_report
    from webapp.services.uploads import extract_video_frames, is_video_capture, upload_dir

    app = app or create_app()
    with app.app_context():
        capture = db.session.get(Capture, capture_id)
        if capture is None:
            return "missing"
        if capture.state == "processed":
            return "processed"
        capture.state, capture.progress = "processing", 0.0
        db.session.commit()
        project = db.session.get(Project, capture.project_id)
        try:
            if is_video_capture(app.config, capture):
                extract_video_frames(app.config, capture)
        except Exception as error:
            log.exception("capture %s: frames could not be taken from its video", capture_id)
            capture.state, capture.error = "failed", f"video: {error}"[:2000]
            db.session.commit()
            db.session.remove()
            return "failed"
        total = max(len(list((upload_dir(app.config, capture) / "frames").glob("*"))), 1)

        def progress(done: int) -> None:  # its own short transaction, visible while the job runs
            with db.engine.begin() as connection:
                connection.execute(update(Capture).where(Capture.id == capture_id).values(progress=done / total * 0.95))

        try:
            process_capture(db.session, app.config["SITETWIN_DATA_DIR"], project.name, upload_dir(app.config, capture),
                            load_detector(), progress=progress)
        except Exception as error:
            db.session.rollback()
            log.exception("capture %s failed", capture_id)
            capture = db.session.get(Capture, capture_id)
            capture.state, capture.error = "failed", f"{type(error).__name__}: {error}"[:2000]
            db.session.commit()
            db.session.remove()
            return "failed"
        try:  # the overview reads the stored report: recompute it now, not on a manager's page view
            progress_report(db.session, db.session.get(Project, capture.project_id))
        except Exception:  # the capture is processed; a report that fails here is recomputed on view
            db.session.rollback()
            log.exception("progress report of project %s after capture %s", capture.project_id, capture_id)
        finally:
            db.session.remove()
        return "processed"


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
