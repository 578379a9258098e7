"""Celery, for sites that outgrow one machine: when ``CELERY_BROKER_URL`` is set, finalised
captures go to Redis and any number of ``sitetwin worker`` processes take them.

A capture of more than ``SITETWIN_CHUNK_FRAMES`` frames is split: its frames are registered in
chunks that any worker may take (a chord), and the last step stores the whole capture in one
transaction. Tasks are acknowledged late and requeued if a worker dies mid-chunk; nothing is
written before the last step, so running any part again duplicates nothing. A failed capture is
tried again (up to :data:`MAX_ATTEMPTS`, backing off), its error on the capture meanwhile.
"""

from __future__ import annotations

import logging
import os
import time

from celery import Celery, chord
from celery.signals import worker_process_init

MAX_ATTEMPTS = 3
log = logging.getLogger(__name__)

celery = Celery("sitetwin")
celery.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "memory://"),
    # A task is acknowledged when it ends, not when it starts: a worker killed mid-chunk leaves it
    # unacknowledged, and Redis gives it to another worker after the visibility timeout.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="sitetwin",
    broker_connection_retry_on_startup=True,
)


def chunk_timeout() -> float:
    """Seconds a chunk may take before Redis redelivers it (``SITETWIN_CHUNK_TIMEOUT``)."""
    return float(os.environ.get("SITETWIN_CHUNK_TIMEOUT", "600"))


def configure(broker_url: str) -> None:
    """Point Celery at the broker; chunk results travel through the same Redis (chords need a backend).

    Pointed elsewhere after it has sent a task, it drops its connection pools:
    Celery would otherwise keep publishing to the broker it first connected to."""
    if broker_url != celery.conf.broker_url:
        celery._pool = None
        celery.amqp._producer_pool = None
    celery.conf.broker_url = broker_url
    celery.conf.result_backend = os.environ.get("CELERY_RESULT_BACKEND") or (
        broker_url if broker_url.startswith(("redis://", "rediss://")) else None)
    # A delivered task not acknowledged within the chunk timeout goes back to the queue; the
    # workers look for such tasks every fifth of it (at most 10 s), not every 100 s (Kombu's).
    timeout = chunk_timeout()
    celery.conf.broker_transport_options = {"visibility_timeout": timeout, "unacked_restore_throttle": 1,
                                            "unacked_restore_interval": max(1, min(10, int(timeout / 5)))}


configure(celery.conf.broker_url)


def _app():
    from webapp import create_app

    return create_app()


@worker_process_init.connect
def warm_up_worker(**_) -> None:
    """Each worker process builds the app and loads its detector, kept for every task it takes
    (:func:`vision.detector_process.shared_detector`: in-process here, since Celery's worker
    processes may not start children), and runs it once before it takes a task, so that a
    capture's chunks do not wait for imports and PyTorch's first call (about 2 s a worker). Bad
    weights are only logged here: the tasks report them on the capture."""
    from vision.detect import DetectorError
    from vision.detector_process import shared_detector

    started = time.perf_counter()
    _app()
    try:
        detector = shared_detector()
    except DetectorError as error:
        log.warning("detector not warmed up: %s", error)
        return
    log.info("detector %s ready in %.1f s", detector.path.name, time.perf_counter() - started)


def _lease_seconds(app) -> tuple[float, float, int]:
    """(lease, lease of a capture whose chunks are out, max attempts): a chunk's worker may die and
    its chunk wait the visibility timeout for another one, so the capture's lease outlasts that."""
    lease = float(app.config["SITETWIN_LEASE_SECONDS"])
    chunked = lease + float(app.config["SITETWIN_CHUNK_TIMEOUT"])
    return lease, chunked, int(app.config["SITETWIN_MAX_ATTEMPTS"])


@celery.task(name="sitetwin.process_capture", bind=True)
def process_capture_task(self, capture_id: int, attempt: int = 0) -> str:
    """Take the capture's lease, prepare it, then process it here (small) or fan its frames out in
    chunks that carry the lease's owner id (the task's id)."""
    from webapp import leases
    from webapp.extensions import db
    from webapp.jobs import finish_capture, prepare_capture

    app = _app()
    owner = f"celery:{self.request.id}"
    with app.app_context():
        lease, chunked_lease, max_attempts = _lease_seconds(app)
        engine = db.engine
        if not leases.claim(engine, capture_id, owner, lease, max_attempts, also_failed=attempt > 0):
            return "nothing to do"
        with leases.Heartbeat(lease, lambda: leases.renew(engine, capture_id, owner, lease)) as beat:
            total = prepare_capture(capture_id, owner)
            if total is None:
                return "nothing to do"
            size = int(app.config.get("SITETWIN_CHUNK_FRAMES", 4))
            if total <= size or not celery.conf.result_backend:
                return _after(finish_capture(capture_id, owner=owner, heartbeat=beat), capture_id, attempt)
            chunks = [list(range(start, min(start + size, total))) for start in range(0, total, size)]
            leases.create_chunks(engine, capture_id, chunks)
            leases.renew(engine, capture_id, owner, chunked_lease)
    chord(register_chunk_task.s(capture_id, chunk, owner) for chunk in chunks)(
        finish_capture_task.s(capture_id, attempt, owner))
    return f"{len(chunks)} chunks"


@celery.task(name="sitetwin.register_chunk")
def register_chunk_task(capture_id: int, indices: list[int], owner: str | None = None) -> list[dict] | dict:
    """Register some frames of a capture, renewing its lease; an error comes back as data, for
    the last step to record. Run twice (redelivered), it counts and stores nothing twice."""
    from webapp import leases
    from webapp.extensions import db
    from webapp.jobs import register_chunk

    app = _app()
    with app.app_context():
        lease, chunked_lease, _ = _lease_seconds(app)
        engine = db.engine
        renewals = [lambda: leases.renew(engine, capture_id, owner, chunked_lease)] if owner else []
        try:
            with leases.Heartbeat(lease, *renewals) as beat:
                return register_chunk(capture_id, indices, owner, beat)
        except Exception as error:  # the chord's last step records it on the capture
            return {"error": f"frames {indices[0]}–{indices[-1]}: {type(error).__name__}: {error}"}


@celery.task(name="sitetwin.finish_capture")
def finish_capture_task(chunks: list, capture_id: int, attempt: int = 0, owner: str | None = None) -> str:
    """Store the capture from its registered chunks, in one transaction, if its lease is still ``owner``'s."""
    from webapp import leases
    from webapp.extensions import db
    from webapp.jobs import _fail, finish_capture

    app = _app()
    with app.app_context():
        lease, chunked_lease, _ = _lease_seconds(app)
        errors = [chunk["error"] for chunk in chunks if isinstance(chunk, dict)]
        if errors:
            return _after(_fail(capture_id, "; ".join(errors), owner), capture_id, attempt)
        engine = db.engine
        renewals = [lambda: leases.renew(engine, capture_id, owner, chunked_lease)] if owner else []
        with leases.Heartbeat(lease, *renewals) as beat:
            state = finish_capture(capture_id, [frame for chunk in chunks for frame in chunk], owner, beat)
        return _after(state, capture_id, attempt)


def _after(state: str, capture_id: int, attempt: int) -> str:
    if state == "failed" and attempt + 1 < MAX_ATTEMPTS:
        process_capture_task.apply_async((capture_id, attempt + 1), countdown=5 * 2 ** attempt)
    return state
