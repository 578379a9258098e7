"""Background work: processing a finalised capture.

In-process by default (a single worker thread per web process; ``SITETWIN_JOBS=sync`` runs jobs
inline, for tests and scripts). A job that dies leaves its capture ``processing``/``failed`` and
retryable: processing writes everything in one transaction, so a retry cannot duplicate anything.
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
    if app.config.get("SITETWIN_JOBS", "thread") == "sync":
        process_uploaded_capture(capture_id, app)
        return
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitetwin-job")
    _executor.submit(process_uploaded_capture, capture_id, app)


def process_uploaded_capture(capture_id: int, app: Flask | None = None) -> None:
    """Process an uploaded capture; records failure on the capture instead of losing it."""
    from vision.detect import load_detector
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Capture, Project
    from webapp.services.processing import process_capture
    from webapp.services.uploads import upload_dir

    app = app or create_app()
    with app.app_context():
        capture = db.session.get(Capture, capture_id)
        if capture is None or capture.state == "processed":
            return
        capture.state, capture.progress = "processing", 0.0
        db.session.commit()
        project = db.session.get(Project, capture.project_id)
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
        finally:
            db.session.remove()
