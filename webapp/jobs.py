"""Background work: processing a finalised capture.

Where it runs: with ``CELERY_BROKER_URL`` set, on Celery workers (``webapp.celery_app``);
otherwise in-process: ``SITETWIN_JOBS=thread`` (default) a worker thread per web process,
``worker`` a ``sitetwin worker`` process polling the database for queued captures, ``sync``
inline (tests and scripts). Every worker holds a lease on the capture it processes
(:mod:`webapp.leases`): one that dies is taken up again by another worker, the scheduler or a
web process once its lease expires, and storing checks the lease in the one storing transaction,
so a capture is stored once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from webapp import leases

log = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None
_pending: set[int] = set()  # captures submitted to this process's thread and not started yet
_pending_lock = threading.Lock()


def _lease(config) -> tuple[float, int]:
    """(lease seconds, max attempts) of this app's configuration."""
    return float(config["SITETWIN_LEASE_SECONDS"]), int(config["SITETWIN_MAX_ATTEMPTS"])


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
    with _pending_lock:
        if capture_id in _pending:
            return
        _pending.add(capture_id)
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitetwin-job")
    _executor.submit(_run_pending, capture_id, app)


def _run_pending(capture_id: int, app: Flask) -> str:
    with _pending_lock:
        _pending.discard(capture_id)
    return process_uploaded_capture(capture_id, app)


def _fail(capture_id: int, message: str, owner: str | None = None) -> str:
    """Record the failure on the capture (only while ``owner`` holds its lease, when given)."""
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.messages import public_message
    from webapp.services.uploads import upload_dir

    db.session.rollback()
    capture = db.session.get(Capture, capture_id)
    if capture is None:
        return "missing"
    # Shown to the camera and on the dashboard: no server path in it.
    roots = [str(upload_dir(current_app.config, capture)), current_app.config["SITETWIN_DATA_DIR"]]
    condition = [Capture.id == capture_id, Capture.state != "processed"]
    if owner is not None:
        condition += [Capture.state == "processing", Capture.lease_owner == owner]
    db.session.execute(update(Capture).where(*condition).values(
        state="failed", error=public_message(message, roots), lease_owner=None, lease_expires_at=None))
    db.session.commit()
    return "failed"


def prepare_capture(capture_id: int, owner: str | None = None) -> int | None:
    """Take a video's frames of a capture this worker holds; its frame count, or None when there
    is nothing to do (gone, not ours, or failed here). Needs an app context."""
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.uploads import extract_video_frames, is_video_capture, uploaded_manifest

    config = current_app.config
    capture = db.session.get(Capture, capture_id)
    ours = capture is not None and capture.state == "processing" and owner in (None, capture.lease_owner)
    if not ours:
        db.session.rollback()
        return None
    try:
        if is_video_capture(config, capture):
            extract_video_frames(config, capture)
        return len(uploaded_manifest(config, capture).frames)
    except Exception as error:
        log.exception("capture %s: not a processable capture", capture_id)
        _fail(capture_id, f"{type(error).__name__}: {error}", owner)
        return None


def _progress(capture_id: int, total: int, owner: str | None, heartbeat: leases.Heartbeat | None):
    """Progress callback of a worker registering all of a capture's frames (its own short
    transaction, visible while the job runs; only while it holds the lease)."""
    from webapp.extensions import db
    from webapp.models import Capture

    engine = db.engine

    def progress(done: int) -> None:
        if heartbeat is not None:
            heartbeat.check()
        condition = [Capture.id == capture_id, Capture.state == "processing"]
        if owner is not None:
            condition.append(Capture.lease_owner == owner)
        try:
            with engine.begin() as connection:
                connection.execute(update(Capture).where(*condition).values(progress=done / total * 0.95))
        except SQLAlchemyError as error:  # progress is for display; a busy database does not stop the work
            log.warning("capture %s: progress not recorded: %s", capture_id, error)

    return progress


def _uploaded(capture_id: int, frames: list[int] | None = None):
    """(project, upload folder on this host) of an uploaded capture: its manifest and ``frames``
    (default: all) fetched from the storage."""
    from webapp.extensions import db
    from webapp.models import Capture, Project
    from webapp.services.uploads import local_upload_dir

    capture = db.session.get(Capture, capture_id)
    return db.session.get(Project, capture.project_id), local_upload_dir(current_app.config, capture, frames)


def register_chunk(capture_id: int, indices: list[int], owner: str | None = None,
                   heartbeat: leases.Heartbeat | None = None) -> list[dict]:
    """Register frames ``indices`` of an uploaded capture (one chunk); plain data for :func:`finish_capture`.

    Its progress counts once however often the chunk runs (:func:`webapp.leases.chunk_progress`)."""
    import json

    from vision.capture import parse_manifest
    from vision.detector_process import shared_detector
    from webapp.extensions import db
    from webapp.services.processing import capture_context, register_frames

    project, folder = _uploaded(capture_id, indices)  # only this chunk's frames on this host
    manifest = parse_manifest(json.loads((folder / "capture.json").read_text()), "capture.json")
    _, twin, scene, believed = capture_context(db.session, current_app.config["SITETWIN_DATA_DIR"], project)
    db.session.remove()
    engine, total = db.engine, len(manifest.frames)
    chunk_seconds = float(current_app.config["SITETWIN_CHUNK_TIMEOUT"])
    chunk_owner = leases.new_owner("chunk")

    def progress(done: int) -> None:
        if heartbeat is not None:
            heartbeat.check()
        if owner is None:
            return
        try:
            leases.chunk_progress(engine, capture_id, indices[0], done, total, owner, chunk_owner,
                                  chunk_seconds)
        except SQLAlchemyError as error:  # progress is for display; a busy database does not stop the work
            log.warning("capture %s: chunk progress not recorded: %s", capture_id, error)

    progress(0)  # the chunk's lease names this worker from its start
    # Frames without a pose prior are localised as one walk when the capture is finished, not here.
    indices = [k for k in indices if manifest.frames[k].pose_prior is not None]
    frames = register_frames(twin, scene, believed, folder, manifest, indices, shared_detector(),
                             progress=progress)
    return [frame.to_dict() for frame in frames]


def finish_capture(capture_id: int, registered: list[dict] | None = None, owner: str | None = None,
                   heartbeat: leases.Heartbeat | None = None) -> str:
    """Register what is not registered yet, store the capture in one transaction (if ``owner``
    still holds its lease), refresh the report. Returns "processed", "failed" or "taken up"."""
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
                        progress=_progress(capture_id, total, owner, heartbeat),
                        registered=[RegisteredFrame.from_dict(r) for r in registered or ()],
                        before_store=leases.store_guard(capture_id, owner) if owner else None,
                        localise=current_app.config["SITETWIN_LOCALISE"])
    except leases.LeaseLost as error:
        log.warning("capture %s: %s; nothing stored here", capture_id, error)
        db.session.remove()
        return "taken up"
    except Exception as error:
        log.exception("capture %s failed", capture_id)
        state = _fail(capture_id, f"{type(error).__name__}: {error}", owner)
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


def _state(capture_id: int) -> str:
    from webapp.extensions import db
    from webapp.models import Capture

    capture = db.session.get(Capture, capture_id)
    return capture.state if capture is not None else "missing"


def process_uploaded_capture(capture_id: int, app: Flask | None = None, owner: str | None = None) -> str:
    """Take the capture's lease (unless ``owner`` holds it already), process it in this process
    under a heartbeat; records failure on the capture instead of losing it.

    Returns "processed", "failed", "taken up" (another worker has it now) or the state it was
    left in when this worker could not take it ("missing" when gone)."""
    from webapp import create_app
    from webapp.extensions import db

    app = app or create_app()
    with app.app_context():
        seconds, max_attempts = _lease(app.config)
        engine = db.engine
        try:
            if owner is None:
                owner = leases.new_owner(app.config.get("SITETWIN_JOBS", "thread"))
                if not leases.claim(engine, capture_id, owner, seconds, max_attempts):
                    return _state(capture_id)
            with leases.Heartbeat(seconds, lambda: leases.renew(engine, capture_id, owner, seconds)) as beat:
                if prepare_capture(capture_id, owner) is None:
                    return _state(capture_id)
                return finish_capture(capture_id, owner=owner, heartbeat=beat)
        finally:
            db.session.remove()


def take_up_expired(app: Flask, capture_id: int | None = None) -> list[int]:
    """Queue again the captures whose worker's lease expired (failing those out of attempts) and
    hand them to this app's workers; in the thread mode also the queued captures no thread holds
    (their web process died). The scheduler's sweep, a web process's, and ``finalise``'s."""
    from webapp.extensions import db
    from webapp.models import Capture

    with app.app_context():
        try:
            _, max_attempts = _lease(app.config)
            requeued = leases.requeue_expired(db.engine, max_attempts, capture_id)
            threads = (not app.config.get("CELERY_BROKER_URL")
                       and app.config.get("SITETWIN_JOBS", "thread") == "thread")
            if threads and capture_id is None:
                queued = db.session.scalars(select(Capture.id).where(Capture.state == "queued")).all()
                requeued = sorted(set(requeued) | set(queued))
            for candidate in requeued:
                enqueue_capture(candidate)
            return requeued
        finally:
            db.session.remove()


_sweepers: set[int] = set()  # apps whose sweeper runs


def start_sweeper(app: Flask) -> None:
    """In the thread mode, a web process takes up what died (its own previous life included):
    at start, then every half lease. Once per app; a daemon thread."""
    with _pending_lock:
        if id(app) in _sweepers:
            return
        _sweepers.add(id(app))
    seconds, _ = _lease(app.config)
    app_ref = weakref.ref(app)  # the thread ends with its app (tests make many)

    def sweep_forever() -> None:
        while (current := app_ref()) is not None:
            try:
                take_up_expired(current)
            except Exception:  # a database that is away now is tried again next time
                log.exception("lease sweep failed")
            del current
            threading.Event().wait(max(seconds / 2, 1.0))

    threading.Thread(target=sweep_forever, name="sitetwin-sweep", daemon=True).start()


def claim_queued(app: Flask) -> tuple[int, str] | None:
    """Take the oldest capture waiting for a worker, queued or with an expired lease; its id and
    owner as ``(id, owner)``, or None."""
    from webapp.extensions import db

    with app.app_context():
        seconds, max_attempts = _lease(app.config)
        owner = leases.new_owner("worker")
        try:
            capture_id = leases.claim_next(db.engine, owner, seconds, max_attempts)
        except SQLAlchemyError as error:  # a busy or restarting database: try again at the next poll
            log.warning("claiming a capture failed: %s", error)
            return None
        finally:
            db.session.remove()
    return None if capture_id is None else (capture_id, owner)


def run_worker(app: Flask, poll_seconds: float | None = None, once: bool = False) -> None:
    """The database-polling worker: process captures one at a time, queued ones and those whose
    worker died (expired lease)."""
    import time

    if poll_seconds is None:
        poll_seconds = float(app.config["SITETWIN_WORKER_POLL_SECONDS"])
    while True:
        claimed = claim_queued(app)
        if claimed is not None:
            capture_id, owner = claimed
            log.info("capture %s: taken by %s", capture_id, owner)
            state = process_uploaded_capture(capture_id, app, owner=owner)
            log.info("capture %s: %s", capture_id, state)
        elif once:
            return
        else:
            time.sleep(poll_seconds)
