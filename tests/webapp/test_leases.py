"""Leases on captures in processing (``webapp.leases``): claimed once, taken up when they expire,
failed when they keep dying, stored once. Expiry is made by moving a lease into the past, not by
waiting. The kill tests with real workers are in test_leases_kill.py."""

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from tests.conftest import table_dump
from webapp import leases
from webapp.models import Capture, CaptureChunk, Frame, Observation, Project

LEASE, MAX_ATTEMPTS = 60.0, 3


def _capture(session, state: str = "queued", **values) -> int:
    project = session.scalar(select(Project).where(Project.name == "leases"))
    if project is None:
        project = Project(name="leases")
        session.add(project)
        session.flush()
    count = session.scalar(select(func.count()).select_from(Capture))
    capture = Capture(project_id=project.id, key=f"walk-{count}", state=state,
                      started_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), **values)
    session.add(capture)
    session.commit()
    return capture.id


def _expire(session, capture_id: int) -> None:
    """The lease's worker stopped renewing it a minute ago (kill -9)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=LEASE)
    session.execute(update(Capture).where(Capture.id == capture_id).values(lease_expires_at=past))
    session.commit()


def _get(session, capture_id: int) -> Capture:
    session.expire_all()
    return session.get(Capture, capture_id)


def test_a_queued_capture_is_claimed_by_one_worker_only(db_session):
    engine = db_session.get_bind()
    capture_id = _capture(db_session)
    assert leases.claim(engine, capture_id, "a", LEASE, MAX_ATTEMPTS)
    assert not leases.claim(engine, capture_id, "b", LEASE, MAX_ATTEMPTS)  # a's lease is live
    assert leases.claim_next(engine, "b", LEASE, MAX_ATTEMPTS) is None
    capture = _get(db_session, capture_id)
    assert (capture.state, capture.lease_owner, capture.attempts) == ("processing", "a", 1)
    assert leases.renew(engine, capture_id, "a", LEASE) and not leases.renew(engine, capture_id, "b", LEASE)


def test_an_expired_lease_is_taken_up_by_another_worker_and_the_first_loses_it(db_session):
    engine = db_session.get_bind()
    capture_id = _capture(db_session)
    assert leases.claim(engine, capture_id, "a", LEASE, MAX_ATTEMPTS)
    _expire(db_session, capture_id)
    assert leases.claim_next(engine, "b", LEASE, MAX_ATTEMPTS) == capture_id
    capture = _get(db_session, capture_id)
    assert (capture.state, capture.lease_owner, capture.attempts) == ("processing", "b", 2)
    assert capture.lease_expires_at is not None
    assert not leases.renew(engine, capture_id, "a", LEASE)  # a, alive after all, learns it lost the lease
    with pytest.raises(leases.LeaseLost):
        leases.store_guard(capture_id, "a")(db_session)
    db_session.rollback()


def test_a_capture_stuck_before_leases_existed_is_taken_up(db_session):
    capture_id = _capture(db_session, state="processing")  # no lease at all: left by an older version
    assert leases.claim_next(db_session.get_bind(), "b", LEASE, MAX_ATTEMPTS) == capture_id


def test_a_capture_that_keeps_dying_is_failed_with_the_reason_not_retried_forever(db_session):
    engine = db_session.get_bind()
    capture_id = _capture(db_session)
    for attempt in range(MAX_ATTEMPTS):
        assert leases.claim_next(engine, f"w{attempt}", LEASE, MAX_ATTEMPTS) == capture_id
        _expire(db_session, capture_id)
    assert leases.claim_next(engine, "last", LEASE, MAX_ATTEMPTS) is None
    capture = _get(db_session, capture_id)
    assert capture.state == "failed" and capture.attempts == MAX_ATTEMPTS and capture.lease_owner is None
    assert f"stopped without finishing {MAX_ATTEMPTS} times" in capture.error and "/" not in capture.error


def test_the_sweep_queues_expired_captures_again_and_leaves_live_ones(app, db_session):
    from webapp.jobs import take_up_expired

    app.config["SITETWIN_JOBS"] = "worker"  # the scheduler's case: workers poll for what it queues
    engine = db_session.get_bind()
    dead, alive = _capture(db_session), _capture(db_session)
    assert leases.claim(engine, dead, "a", LEASE, MAX_ATTEMPTS)
    assert leases.claim(engine, alive, "b", LEASE, MAX_ATTEMPTS)
    _expire(db_session, dead)
    assert take_up_expired(app) == [dead]
    assert _get(db_session, dead).state == "queued" and _get(db_session, dead).lease_owner is None
    assert _get(db_session, alive).state == "processing" and _get(db_session, alive).lease_owner == "b"
    assert take_up_expired(app) == []


def test_the_scheduler_runs_the_lease_sweep(app, db_session, monkeypatch):
    from webapp.scheduler import build_scheduler, sweep_leases_job

    scheduler = build_scheduler(app, blocking=False)
    job = {job.id: job for job in scheduler.get_jobs()}["sweep-leases"]
    assert job.trigger.interval.total_seconds() == app.config["SITETWIN_LEASE_SECONDS"] / 2
    assert job.func is sweep_leases_job
    # The job as `sitetwin scheduler` runs it: an app from the environment, on this database.
    for name, value in (("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"]), ("SITETWIN_JOBS", "worker"),
                        ("SITETWIN_DATA_DIR", app.config["SITETWIN_DATA_DIR"])):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    dead = _capture(db_session)
    assert leases.claim(db_session.get_bind(), dead, "a", LEASE, MAX_ATTEMPTS)
    _expire(db_session, dead)
    sweep_leases_job()
    assert _get(db_session, dead).state == "queued"


def test_chunk_progress_counts_a_chunk_run_twice_once(db_session):
    engine = db_session.get_bind()
    capture_id = _capture(db_session)
    assert leases.claim(engine, capture_id, "chord", LEASE, MAX_ATTEMPTS)
    leases.create_chunks(engine, capture_id, [[0, 1, 2], [3, 4, 5]])
    for done in (0, 1, 2):  # a worker registers two frames of the first chunk, then is killed
        assert leases.chunk_progress(engine, capture_id, 0, done, 6, "chord", "w1", LEASE)
    for done in (0, 1, 2, 3):  # the chunk is delivered again to another worker, which does it all
        assert leases.chunk_progress(engine, capture_id, 0, done, 6, "chord", "w2", LEASE)
    assert _get(db_session, capture_id).progress == pytest.approx(3 / 6 * 0.95)
    chunk = db_session.get(CaptureChunk, (capture_id, 0))
    assert (chunk.done, chunk.lease_owner) == (3, "w2")
    # The capture was taken up by another chord meanwhile: the old one's chunks record nothing.
    _expire(db_session, capture_id)
    assert leases.claim(engine, capture_id, "chord-2", LEASE, MAX_ATTEMPTS)
    assert not leases.chunk_progress(engine, capture_id, 3, 3, 6, "chord", "w1", LEASE)
    assert db_session.get(CaptureChunk, (capture_id, 3)).done == 0


def _upload(app, runner, walk):
    from tests.webapp.test_process import _upload as upload

    return upload(app, runner, walk)


def _stored(session, capture_id: int) -> tuple[int, int, int]:
    """(frames, observations, distinct (frame, element) observations) of a capture."""
    frames = session.scalar(select(func.count()).select_from(Frame).where(Frame.capture_id == capture_id))
    pairs = session.execute(select(Observation.frame_id, Observation.global_id).join(Frame)
                            .where(Frame.capture_id == capture_id)).all()
    return frames, len(pairs), len(set(pairs))


@pytest.mark.slow
def test_a_worker_that_lost_its_lease_stores_nothing_and_a_chunk_done_twice_is_harmless(app, runner, walk):
    """Worker a registers chunks, is presumed dead, b takes the capture up: a's store is refused;
    b stores the capture from chunks of which one was registered twice; a third store changes nothing."""
    from webapp.extensions import db
    from webapp.jobs import finish_capture, register_chunk

    app.config["SITETWIN_JOBS"] = "worker"
    client, headers, capture_id = _upload(app, runner, walk)
    assert client.post(f"/api/v1/captures/{capture_id}/finalise", headers=headers).status_code == 202
    with app.app_context():
        engine = db.engine
        assert leases.claim(engine, capture_id, "a", LEASE, MAX_ATTEMPTS)
        leases.create_chunks(engine, capture_id, [[0, 1], [2]])
        first = register_chunk(capture_id, [0, 1], "a")
        again = register_chunk(capture_id, [0, 1], "a")  # redelivered after its worker was lost
        _expire(db.session, capture_id)
        assert leases.claim(engine, capture_id, "b", LEASE, MAX_ATTEMPTS)
        before = table_dump(db.session)
        assert finish_capture(capture_id, first, owner="a") == "taken up"
        assert table_dump(db.session) == before
        assert finish_capture(capture_id, first + again, owner="b") == "processed"
        capture = _get(db.session, capture_id)
        assert (capture.state, capture.progress, capture.lease_owner) == ("processed", 1.0, None)
        frames, observations, distinct = _stored(db.session, capture_id)
        assert frames == 3 and observations == distinct > 0
        stored = table_dump(db.session)
        assert finish_capture(capture_id, first, owner="b") == "processed"  # late duplicate: unchanged
        assert table_dump(db.session) == stored


@pytest.mark.slow
def test_finalise_takes_up_a_stuck_capture_and_leaves_a_live_one(app, runner, walk):
    """Finalise on a capture in processing: 202 and nothing changes while its worker's lease is
    live; once the lease expired, it is queued again and processed (here inline)."""
    from webapp.extensions import db

    app.config["SITETWIN_JOBS"] = "worker"
    client, headers, capture_id = _upload(app, runner, walk)
    assert client.post(f"/api/v1/captures/{capture_id}/finalise", headers=headers).status_code == 202
    app.config["SITETWIN_JOBS"] = "sync"
    with app.app_context():
        assert leases.claim(db.engine, capture_id, "dead-worker", LEASE, MAX_ATTEMPTS)
        before = table_dump(db.session)
        response = client.post(f"/api/v1/captures/{capture_id}/finalise", headers=headers)
        assert response.status_code == 202 and response.get_json()["state"] == "processing"
        assert table_dump(db.session) == before
        _expire(db.session, capture_id)
        response = client.post(f"/api/v1/captures/{capture_id}/finalise", headers=headers)
        assert response.status_code == 202, response.get_json()
        status = client.get(f"/api/v1/captures/{capture_id}", headers=headers).get_json()
        assert status["state"] == "processed", status
        capture = _get(db.session, capture_id)
        assert capture.attempts == 2 and capture.lease_owner is None
        frames, observations, distinct = _stored(db.session, capture_id)
        assert frames == 3 and observations == distinct > 0


def test_finalise_on_a_capture_out_of_attempts_fails_it_with_the_reason(app, runner, api):
    client, token, _ = api
    headers = {"Authorization": f"Bearer {token}"}
    from tests.webapp.test_api import manifest

    created = client.post("/api/v1/captures", data=json.dumps(manifest("stuck")),
                          content_type="application/json", headers=headers)
    assert created.status_code == 201, created.get_json()
    capture_id = created.get_json()["id"]
    from webapp.extensions import db

    with app.app_context():
        db.session.execute(update(Capture).where(Capture.id == capture_id)
                           .values(state="processing", lease_owner="w", attempts=MAX_ATTEMPTS))
        db.session.commit()
        _expire(db.session, capture_id)
        response = client.post(f"/api/v1/captures/{capture_id}/finalise", headers=headers)
        assert response.status_code == 202
        body = response.get_json()
        assert body["state"] == "failed" and "stopped without finishing" in body["error"], body


def test_the_heartbeat_renews_until_the_lease_is_lost_and_survives_a_busy_database():
    """A real heartbeat thread on a short beat: a renewal that fails on a busy database is tried
    again; one that finds the lease gone sets ``lost``, and the work's next check stops it."""
    import threading

    from sqlalchemy.exc import OperationalError

    answers = iter([True, OperationalError("UPDATE", {}, Exception("database is locked")), True, False])
    calls, done = [], threading.Event()

    def renewal():
        calls.append(1)
        answer = next(answers, False)
        if answer is False:
            done.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    with leases.Heartbeat(0.3, renewal) as beat:
        beat.check()  # nothing lost yet
        assert done.wait(timeout=30) and beat.lost.wait(timeout=30)
        with pytest.raises(leases.LeaseLost):
            beat.check()
    assert len(calls) >= 4
