"""refuse(): a project's stored observations re-fused into stored statuses, on SQLite and PostgreSQL,
equal to the reference fusion, including above PostgreSQL's 65,535 bound parameters."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from twin.fusion import ABSENT, INSTALLED, NOT_VISIBLE, fuse
from twin.fusion import Observation as FusionObservation

T0 = dt.datetime(2026, 9, 7, 9, tzinfo=dt.UTC)


def _seed(session, elements: int, frames: int, per_element: int, seed: int = 3):
    """A project with ``frames`` frames over three weekly captures and random observations."""
    from webapp.models import Capture, Frame, Observation, Project

    rng = random.Random(seed)
    project = Project(name="p")
    session.add(project)
    session.flush()
    frame_rows = []
    for c in range(3):
        capture = Capture(project_id=project.id, key=f"c{c}", started_at=T0 + dt.timedelta(days=7 * c),
                          state="processed")
        session.add(capture)
        session.flush()
        for k in range(frames // 3):
            frame_rows.append(Frame(capture_id=capture.id, index=k, file=f"f{c}-{k}.jpg", sha256=f"{c}{k:063d}",
                                    taken_at=capture.started_at + dt.timedelta(seconds=10 * k), width=2, height=1,
                                    pose_prior=[0] * 6))
    session.add_all(frame_rows)
    session.flush()
    finals, rows = {}, []
    for e in range(elements):
        gid = f"E{e:021d}"
        finals[gid] = rng.randint(1, 3)
        for frame in rng.sample(frame_rows, per_element):
            kind = rng.choice([INSTALLED, INSTALLED, ABSENT, NOT_VISIBLE])
            rows.append({"project_id": project.id, "frame_id": frame.id, "global_id": gid, "kind": kind,
                         "stage": rng.randint(1, finals[gid]) if kind == INSTALLED else 0,
                         "confidence": rng.choice([0.4, 0.6, 0.9, round(rng.uniform(0.05, 1), 3)])})
    session.execute(Observation.__table__.insert(), rows)
    session.commit()
    times = {f.id: f.taken_at if f.taken_at.tzinfo else f.taken_at.replace(tzinfo=dt.UTC) for f in frame_rows}
    reference = fuse([FusionObservation(r["global_id"], str(r["frame_id"]), times[r["frame_id"]], r["kind"], r["stage"],
                                        r["confidence"]) for r in rows], finals)
    return project, finals, reference


@pytest.mark.parametrize("in_limit", [5000, 10])
def test_refuse_stores_the_reference_statuses_and_history(db_session, monkeypatch, in_limit):
    from webapp.models import ElementStatus, ElementStatusChange
    from webapp.services import processing

    monkeypatch.setattr(processing, "IN_LIMIT", in_limit)  # 10: the whole-project read, filtered here
    project, finals, reference = _seed(db_session, elements=60, frames=30, per_element=6)
    only = set(list(finals)[:50])
    changes = processing.refuse(db_session, project.id, only, finals, None, T0)
    db_session.commit()
    stored = {s.global_id: s for s in db_session.scalars(select(ElementStatus))}
    assert set(stored) == only
    for gid, status in stored.items():
        want = reference[gid]
        assert (status.stage, status.needs_review) == (want.stage, want.needs_review)
        assert status.probability == pytest.approx(want.probability, rel=1e-12)
        assert [dt.datetime.fromisoformat(t) for t in status.reached_at] == want.reached_at
        assert status.last_seen.replace(tzinfo=dt.UTC) == want.last_seen.replace(tzinfo=dt.UTC)
    started = [gid for gid in only if reference[gid].stage > 0 or reference[gid].needs_review]
    assert changes == len(started) == len(db_session.scalars(select(ElementStatusChange)).all())
    # Again with nothing new: statuses are rewritten, no history is added.
    assert processing.refuse(db_session, project.id, only, finals, None, T0) == 0


@pytest.mark.slow
def test_refuse_reads_more_elements_than_postgresql_binds_parameters(db_session):
    from webapp.models import ElementStatus
    from webapp.services.processing import refuse

    project, finals, reference = _seed(db_session, elements=70_000, frames=12, per_element=1)
    refuse(db_session, project.id, set(finals), finals, None, T0)
    db_session.commit()
    stored = dict(db_session.execute(select(ElementStatus.global_id, ElementStatus.stage)).all())
    assert stored == {gid: status.stage for gid, status in reference.items()}


def _capture_with(session, project, key: str, started: dt.datetime,
                  claims: list[tuple[str, str, int, float]]) -> int:
    """A processed capture whose frames (one per claim, a second apart) saw ``claims``: (GlobalId,
    kind, stage, confidence). Returns its id."""
    from webapp.models import Capture, Frame, Observation

    capture = Capture(project_id=project.id, key=key, started_at=started, state="processed")
    session.add(capture)
    session.flush()
    for k, (gid, kind, stage, confidence) in enumerate(claims):
        frame = Frame(capture_id=capture.id, index=k, file=f"{key}-{k}.jpg", sha256=f"{key}{k:060d}"[-64:],
                      taken_at=started + dt.timedelta(seconds=k), width=2, height=1, pose_prior=[0] * 6)
        session.add(frame)
        session.flush()
        session.add(Observation(project_id=project.id, frame_id=frame.id, global_id=gid, kind=kind,
                                stage=stage, confidence=confidence))
    session.flush()
    return capture.id


def test_a_capture_that_sends_an_installed_element_back_records_the_drop_for_review(db_session):
    from webapp.models import ElementStatus, ElementStatusChange, Project
    from webapp.services.processing import refuse

    door, wall = "D" * 22, "W" * 22
    finals = {door: 1, wall: 1}
    project = Project(name="p")
    db_session.add(project)
    db_session.flush()

    def walk(key, day, claims):
        at = T0 + dt.timedelta(days=day)
        refuse(db_session, project.id, {g for g, *_ in claims}, finals,
               _capture_with(db_session, project, key, at, claims), at)
        db_session.commit()
        return {s.global_id: s for s in db_session.scalars(select(ElementStatus))}

    # The door: one weak "installed" frame, believed at once but never held confidently. The
    # wall: installed, seen so in many frames.
    statuses = walk("c0", 0, [(door, INSTALLED, 1, 0.75)] + [(wall, INSTALLED, 1, 0.9)] * 6)
    assert statuses[door].stage == statuses[wall].stage == 1 and not statuses[door].needs_review
    # A week later both are seen absent, confidently, several times.
    statuses = walk("c1", 7, [(door, ABSENT, 0, 0.9)] * 5 + [(wall, ABSENT, 0, 0.9)] * 6)
    drops = db_session.scalars(select(ElementStatusChange).where(ElementStatusChange.previous_stage == 1))
    assert {(c.global_id, c.stage, c.needs_review) for c in drops} == {(door, 0, True), (wall, 0, True)}
    assert statuses[door].stage == statuses[wall].stage == 0
    assert statuses[door].needs_review and statuses[wall].needs_review
    # More absences on the next walk: still flagged (nobody has reviewed), no new history.
    statuses = walk("c2", 14, [(door, ABSENT, 0, 0.9)] * 3)
    assert statuses[door].stage == 0 and statuses[door].needs_review
    assert len(db_session.scalars(select(ElementStatusChange)).all()) == 4
    # Every drop in the history is flagged.
    history = db_session.scalars(select(ElementStatusChange)).all()
    assert all(c.needs_review for c in history if c.stage < c.previous_stage)
    # A reviewer decides (as review_element writes it): the flag clears and stays cleared when
    # the next capture is fused.
    row = statuses[door]
    row.reviewed_stage, row.needs_review = 0, False
    db_session.commit()
    statuses = walk("c3", 21, [(door, ABSENT, 0, 0.9)])
    assert statuses[door].stage == 0 and not statuses[door].needs_review


def test_a_review_flag_that_fusion_clears_is_history_so_past_dates_read_it_cleared(db_session):
    """A wall held installed, doubted after two confident absences (still installed, flagged),
    then seen installed again: the flag clears without a stage change, and that clearing is a
    history row, so the statuses believed on a later date are not still flagged."""
    from webapp.models import ElementStatus, ElementStatusChange, Project
    from webapp.services.as_of import statuses_on
    from webapp.services.processing import refuse

    wall = "W" * 22
    project = Project(name="p")
    db_session.add(project)
    db_session.flush()
    for key, day, claims in (("c0", 0, [(wall, INSTALLED, 1, 0.9)] * 6), ("c1", 7, [(wall, ABSENT, 0, 0.9)] * 2),
                             ("c2", 14, [(wall, INSTALLED, 1, 0.9)] * 3)):
        at = T0 + dt.timedelta(days=day)
        refuse(db_session, project.id, {wall}, {wall: 1}, _capture_with(db_session, project, key, at, claims), at)
        db_session.commit()
        status = db_session.scalar(select(ElementStatus))
        assert status.stage == 1 and status.needs_review == (key == "c1"), key
    history = [(c.stage, c.needs_review) for c in db_session.scalars(
        select(ElementStatusChange).order_by(ElementStatusChange.changed_at))]
    assert history == [(1, False), (1, True), (1, False)]
    day = lambda d: (T0 + dt.timedelta(days=d)).date()  # noqa: E731
    assert statuses_on(db_session, project.id, day(8))[wall] == (1, True, True)
    assert statuses_on(db_session, project.id, day(15))[wall] == (1, False, True)
