"""Leases on captures in processing: work that dies is taken up again, and stored once.

A worker takes a capture by compare-and-set (:func:`claim`): from ``queued`` or from
``processing`` whose lease has expired. While it works, a :class:`Heartbeat` thread renews the
lease every third of ``SITETWIN_LEASE_SECONDS``; a worker killed with ``kill -9`` stops renewing,
and once the lease expires any polling worker's claim, the scheduler's sweep, a web process's
sweep or ``finalise`` (:func:`requeue_expired`) takes the capture up again.
A capture taken ``SITETWIN_MAX_ATTEMPTS`` times without finishing is marked ``failed`` with the
reason instead of looping forever. Storing checks the lease in the storing transaction
(:func:`store_guard`), so a worker that lost its lease (slow, not dead) writes nothing: a
capture is processed once.

Times are the workers' clocks in UTC (keep hosts on NTP; a skew shortens or lengthens leases).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from webapp.models import Capture, CaptureChunk

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """This worker's lease on the capture was taken up by another one: stop, write nothing."""


def new_owner(kind: str = "worker") -> str:
    """An owner id naming the host and process (for logs and for the reason of a failed capture)."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _until(seconds: float) -> dt.datetime:
    return _now() + dt.timedelta(seconds=seconds)


def _expired():
    """SQL: a capture in processing whose lease ran out (or that has none: stuck before leases)."""
    return and_(Capture.state == "processing",
                or_(Capture.lease_expires_at.is_(None), Capture.lease_expires_at < _now()))


def claim(engine: Engine, capture_id: int, owner: str, seconds: float, max_attempts: int,
          also_failed: bool = False) -> bool:
    """Take the capture for ``owner`` for ``seconds``: compare-and-set, True if this caller has it.

    Takes it when queued, or when its lease expired with attempts left (a Celery task delivered
    again after its worker died comes after the visibility timeout, longer than a lease, so it
    takes it this way; one delivered again while its first run is alive takes nothing).
    ``also_failed``: a failed one too (a retry)."""
    with engine.begin() as connection:
        taken = connection.execute(
            update(Capture)
            .where(Capture.id == capture_id,
                   or_(Capture.state.in_(("queued", "failed") if also_failed else ("queued",)),
                       and_(_expired(), Capture.attempts < max_attempts)))
            .values(state="processing", lease_owner=owner, lease_expires_at=_until(seconds),
                    attempts=Capture.attempts + 1, progress=0.0, error=None))
    return taken.rowcount == 1


def claim_next(engine: Engine, owner: str, seconds: float, max_attempts: int) -> int | None:
    """The oldest capture waiting for a worker (queued, or with an expired lease), taken for ``owner``."""
    give_up(engine, max_attempts)
    with engine.connect() as connection:
        candidates = connection.scalars(
            select(Capture.id)
            .where(or_(Capture.state == "queued", and_(_expired(), Capture.attempts < max_attempts)))
            .order_by(Capture.id).limit(5)).all()
    for capture_id in candidates:  # another worker may take one first: try the next
        if claim(engine, capture_id, owner, seconds, max_attempts):
            return capture_id
    return None


def renew(engine: Engine, capture_id: int, owner: str, seconds: float) -> bool:
    """Extend ``owner``'s lease; False when it is not ``owner``'s any more (taken up, or finished)."""
    with engine.begin() as connection:
        renewed = connection.execute(
            update(Capture).where(Capture.id == capture_id, Capture.state == "processing",
                                  Capture.lease_owner == owner)
            .values(lease_expires_at=_until(seconds)))
    return renewed.rowcount == 1


def give_up(engine: Engine, max_attempts: int, capture_id: int | None = None) -> list[int]:
    """Mark ``failed`` the captures whose lease expired on their last attempt (``capture_id``:
    this one only); their ids."""
    failed = []
    with engine.begin() as connection:
        query = select(Capture.id, Capture.lease_owner).where(_expired(), Capture.attempts >= max_attempts)
        if capture_id is not None:
            query = query.where(Capture.id == capture_id)
        rows = connection.execute(query).all()
        for expired, owner in rows:
            reason = (f"processing stopped without finishing {max_attempts} times (its worker died or was "
                      "stopped each time); finalise it again to retry")
            result = connection.execute(
                update(Capture).where(Capture.id == expired, _expired(), Capture.attempts >= max_attempts)
                .values(state="failed", lease_owner=None, lease_expires_at=None, error=reason))
            if result.rowcount:
                failed.append(expired)
                log.warning("capture %s: processing died %d times (last on %s), marked failed", expired,
                            max_attempts, owner)
    return failed


def requeue_expired(engine: Engine, max_attempts: int, capture_id: int | None = None) -> list[int]:
    """Put captures with an expired lease (and attempts left) back to ``queued``; their ids.

    The caller enqueues them again (Celery, the web process's thread); the rest are failed by
    :func:`give_up`. ``capture_id``: this one only."""
    give_up(engine, max_attempts, capture_id)
    requeued = []
    with engine.begin() as connection:
        query = select(Capture.id).where(_expired(), Capture.attempts < max_attempts)
        if capture_id is not None:
            query = query.where(Capture.id == capture_id)
        for candidate in connection.scalars(query).all():
            result = connection.execute(
                update(Capture).where(Capture.id == candidate, _expired(), Capture.attempts < max_attempts)
                .values(state="queued", lease_owner=None, lease_expires_at=None))
            if result.rowcount:
                requeued.append(candidate)
    for candidate in requeued:
        log.warning("capture %s: its worker's lease expired; queued again", candidate)
    return requeued


def store_guard(capture_id: int, owner: str):
    """For :func:`webapp.services.processing.process_capture`: in the storing transaction, end
    ``owner``'s lease or raise :class:`LeaseLost` (the row stays locked until the commit, so no
    other worker can take the capture meanwhile)."""

    def guard(session: Session) -> None:
        ended = session.execute(
            update(Capture).where(Capture.id == capture_id, Capture.state == "processing",
                                  Capture.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None))
        if ended.rowcount != 1:
            raise LeaseLost(f"capture {capture_id}: the lease of {owner} was taken up by another worker")

    return guard


def create_chunks(engine: Engine, capture_id: int, chunks: list[list[int]]) -> None:
    """Record a capture's chunks (again from nothing: a capture dispatched anew starts over)."""
    from sqlalchemy import delete

    with engine.begin() as connection:
        connection.execute(delete(CaptureChunk).where(CaptureChunk.capture_id == capture_id))
        connection.execute(CaptureChunk.__table__.insert(), [
            {"capture_id": capture_id, "first_index": chunk[0], "frames": len(chunk), "done": 0}
            for chunk in chunks])


def chunk_progress(engine: Engine, capture_id: int, first_index: int, done: int, total: int,
                   capture_owner: str, chunk_owner: str, seconds: float) -> bool:
    """A chunk registered ``done`` of its frames: record it (never lower, so a chunk run twice
    counts once) with the chunk's lease (``chunk_owner``, names the worker), and set the capture's
    progress from all its chunks, while ``capture_owner`` holds the capture; False when not."""
    with engine.begin() as connection:
        held = connection.execute(
            select(Capture.id).where(Capture.id == capture_id, Capture.state == "processing",
                                     Capture.lease_owner == capture_owner)).first()
        if held is None:
            return False
        connection.execute(
            update(CaptureChunk)
            .where(CaptureChunk.capture_id == capture_id, CaptureChunk.first_index == first_index)
            .values(done=case((CaptureChunk.done < done, done), else_=CaptureChunk.done),
                    lease_owner=chunk_owner, lease_expires_at=_until(seconds)))
        registered = (select(func.coalesce(func.sum(CaptureChunk.done), 0))
                      .where(CaptureChunk.capture_id == capture_id).scalar_subquery())
        connection.execute(update(Capture)
                           .where(Capture.id == capture_id, Capture.lease_owner == capture_owner)
                           .values(progress=registered * 0.95 / max(total, 1)))
    return True


class Heartbeat:
    """A daemon thread renewing a lease every ``seconds / 3`` until stopped (a context manager).

    ``renewals`` is a list of callables returning False when the lease is lost; ``lost`` is set
    then (the work can stop early; its store would be refused anyway). A renewal that fails on a
    busy database is logged and tried again at the next beat."""

    def __init__(self, seconds: float, *renewals) -> None:
        self.interval = max(seconds / 3, 0.2)
        self.renewals = renewals
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sitetwin-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for renewal in self.renewals:
                try:
                    if not renewal():
                        self.lost.set()
                except SQLAlchemyError as error:
                    log.warning("lease renewal failed (tried again in %.0f s): %s", self.interval, error)

    def check(self) -> None:
        """Raise :class:`LeaseLost` when another worker took the capture up."""
        if self.lost.is_set():
            raise LeaseLost("this worker's lease was taken up by another worker")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
