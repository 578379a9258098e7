"""Unknown is not late: an element no capture has seen is "not observed", never "seen absent" or
late; each storey shows when it was last walked and what share of its elements captures have seen;
an assembly without geometry (a stair) takes its status from its parts and counts once in progress."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, inspect, select

from twin import taxonomy
from twin.generate import generate_building
from webapp.models import Capture, Element, Frame, Observation, Project, Storey, Task, TaskElement
from webapp.services import elements as element_service
from webapp.services.processing import refuse
from webapp.services.reports import progress_report
from webapp.services.schedules import current_schedule, project_progress
from webapp.services.twins import current_revision

PASSWORD = "correct horse battery"
WALKED = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)


@pytest.fixture
def site(app, runner, tmp_path):
    """Project 'p': a generated two-storey building whose schedule finished weeks ago, no capture yet,
    and a viewer."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=2, bays=(1, 1), seed=3, start=dt.date.today() - dt.timedelta(days=120))
    for args in (["ingest", str(path), "--project", "p"], ["schedule", "import", str(path), "--project", "p"],
                 ["user", "create", "--email", "v@x.org", "--password", PASSWORD, "--project", "p",
                  "--role", "viewer"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    return app


def _walk(session, storey: str, seen: dict[str, list[tuple[str, int, float]]], key: str,
          at: dt.datetime = WALKED) -> None:
    """A processed capture of ``storey`` (name) whose frames observed ``seen``: GlobalId → one
    (kind, stage, confidence) per frame; then the statuses are fused as processing does."""
    project = session.scalar(select(Project).where(Project.name == "p"))
    revision = current_revision(session, project)
    storey_gid = session.scalar(select(Storey.global_id).where(Storey.revision_id == revision.id,
                                                                Storey.name == storey))
    capture = Capture(project_id=project.id, revision_id=revision.id, key=key, storey_global_id=storey_gid,
                      started_at=at, state="processed")
    session.add(capture)
    session.flush()
    frames = []
    for index in range(max(len(v) for v in seen.values())):
        frame = Frame(capture_id=capture.id, index=index, file=f"f{index}.jpg",
                      sha256=f"{key}-{index}".ljust(64, "0"), taken_at=at + dt.timedelta(seconds=index),
                      width=64, height=32, pose_prior=[0.0] * 6)
        session.add(frame)
        frames.append(frame)
    session.flush()
    for gid, claims in seen.items():
        for frame, (kind, stage, confidence) in zip(frames, claims, strict=False):
            session.add(Observation(project_id=project.id, frame_id=frame.id, global_id=gid, kind=kind,
                                    stage=stage, confidence=confidence))
    session.flush()
    classes = dict(session.execute(select(Element.global_id, Element.tracked_class).where(
        Element.revision_id == revision.id, Element.global_id.in_(list(seen)))).all())
    refuse(session, project.id, set(seen), {g: taxonomy.BY_NAME[c].final_stage for g, c in classes.items()},
           capture.id, at)
    session.commit()


def _gid(session, name: str) -> str:
    return session.scalar(select(Element.global_id).where(Element.name == name))


def _signed_in(app):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    response = client.post("/auth/login",
                           data={"email": "v@x.org", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


INSTALLED = [("installed", 1, 0.95)] * 3
ABSENT = [("absent", 0, 0.9)] * 3
NOT_VISIBLE = [("not_visible", 0, 0.9)] * 3


def test_classify_status_says_unobserved_for_an_unseen_element_whatever_its_due_date():
    today, past = dt.date(2026, 12, 7), dt.date(2026, 11, 1)
    assert element_service.classify_status("column", 0, False, past, today, seen=False) == "unobserved"
    assert element_service.classify_status("column", None, None, past, today, seen=False) == "unobserved"
    assert element_service.classify_status("column", 0, False, past, today, seen=True) == "late"
    assert element_service.classify_status("column", 0, False, None, today, seen=True) == "not_started"
    assert element_service.classify_status("wall", 1, False, past, today, seen=True) == "late"
    assert element_service.classify_status("wall", 1, False, None, today, seen=True) == "in_progress"
    assert element_service.classify_status("column", 1, False, past, today, seen=True) == "installed"
    # without ``seen``, a status row means seen (callers that only know stages)
    assert element_service.classify_status("column", None, None, past, today) == "unobserved"
    assert element_service.classify_status("column", 0, False, past, today) == "late"


def test_only_ever_not_visible_is_unobserved_and_never_late_seen_absent_past_due_is_late(site, db_session):
    hidden, absent, never = (_gid(db_session, n) for n in ("C 0-0 L0", "C 0-1 L0", "C 1-0 L0"))
    _walk(db_session, "Level 0", {hidden: NOT_VISIBLE, absent: ABSENT}, "w1")
    project = db_session.scalar(select(Project).where(Project.name == "p"))
    revision = current_revision(db_session, project)
    storey = db_session.scalar(select(Storey.id).where(Storey.revision_id == revision.id,
                                                       Storey.name == "Level 0"))
    statuses = element_service.element_statuses(db_session, project, revision, storey)
    # every one of them is past due (the precondition of "late")
    due = db_session.scalar(select(Task.planned_finish).join(TaskElement)
                            .where(TaskElement.global_id == hidden))
    assert due < dt.date.today()
    assert statuses[hidden] == "unobserved"
    assert statuses[never] == "unobserved"
    assert statuses[absent] == "late"
    assert element_service.element_detail(db_session, project, revision, hidden)["status"] == "unobserved"
    assert element_service.element_detail(db_session, project, revision, absent)["status"] == "late"
    html = _signed_in(site).get(f"/projects/{project.id}/elements/{hidden}").get_data(as_text=True)
    assert "Not observed yet" in html and "Not started (seen absent)" not in html


def test_each_storey_shows_when_it_was_last_walked_and_its_coverage(site, db_session):
    hidden, absent, built = (_gid(db_session, n) for n in ("C 0-0 L0", "C 0-1 L0", "C 1-1 L0"))
    _walk(db_session, "Level 0", {hidden: NOT_VISIBLE, absent: ABSENT}, "w1", WALKED - dt.timedelta(days=7))
    _walk(db_session, "Level 0", {built: INSTALLED}, "w2", WALKED)
    project = db_session.scalar(select(Project).where(Project.name == "p"))
    revision = current_revision(db_session, project)
    storeys = {s.name: s for s in revision.storeys}
    shaped = {name: db_session.scalar(select(func.count()).select_from(Element).where(
        Element.storey_id == s.id, Element.triangles > 0, Element.physical)) for name, s in storeys.items()}
    coverage = element_service.storey_coverage(db_session, project, revision)
    level0, level1 = coverage[storeys["Level 0"].id], coverage[storeys["Level 1"].id]
    assert (level0["seen"], level0["elements"]) == (2, shaped["Level 0"])
    assert level0["coverage"] == pytest.approx(2 / shaped["Level 0"])
    # last walked: the walk's last frame that saw one of its elements
    assert level0["last_walked"] == WALKED + dt.timedelta(seconds=2)
    assert (level1["seen"], level1["elements"], level1["last_walked"]) == (0, shaped["Level 1"], None)

    client = _signed_in(site)
    overview = client.get(f"/projects/{project.id}").get_data(as_text=True)
    walked_text = (f"last walked {WALKED:%Y-%m-%d} · {100 * 2 / shaped['Level 0']:.0f}% seen "
                   f"(2 of {shaped['Level 0']})")
    assert walked_text in overview
    assert f"never walked · 0% seen (0 of {shaped['Level 1']})" in overview
    # the headline percent says it is an estimate where coverage is partial, and its lower bound
    overall = project_progress(db_session, "p")["overall"]
    assert 0 < overall["seen_pct"] < 100 and overall["seen_installed_pct"] <= overall["actual_pct"]
    assert (f'(estimated: {overall["seen_installed_pct"]}% seen installed,\n    {overall["seen_pct"]}% of elements '
            "seen; the rest from its task or the plan)") in overview
    plan = client.get(f"/projects/{project.id}/storeys/{storeys['Level 0'].id}/plan").get_data(as_text=True)
    assert re.search(r'<p id="coverage" class="muted"><span class="walked">' + re.escape(walked_text), plan)
    report = {c["storey"]: c for c in project_progress(db_session, "p")["coverage"]}
    assert report["Level 0"] == {"storey": "Level 0", "elements": shaped["Level 0"], "seen": 2,
                                 "seen_pct": round(200 / shaped["Level 0"], 1),
                                 "last_walked": (WALKED + dt.timedelta(seconds=2)).isoformat()}
    assert (report["Level 1"]["seen"], report["Level 1"]["last_walked"]) == (0, None)
    body = client.get(f"/projects/{project.id}/storeys/{storeys['Level 1'].id}/status.json").get_json()
    assert body["coverage"] == {"elements": shaped["Level 1"], "seen": 0, "coverage": 0.0,
                                "last_walked": None}
    assert set(body["elements"].values()) == {"unobserved"}  # never walked: nothing is late


def test_a_stair_takes_its_status_from_its_parts_and_its_task_reaches_100_percent(site, db_session):
    project = db_session.scalar(select(Project).where(Project.name == "p"))
    revision = current_revision(db_session, project)
    stair, flight, railing = (_gid(db_session, n) for n in ("Stair L0", "Flight L0", "Railing L0"))
    version = current_schedule(db_session, project.id)
    task = db_session.scalar(select(Task).where(Task.schedule_id == version.id, Task.name == "structure L0"))
    linked = set(db_session.scalars(select(TaskElement.global_id).where(TaskElement.task_id == task.id)))
    assert {stair, flight, railing} <= linked  # the schedule names the stair and its parts
    assert db_session.scalar(select(Element.triangles).where(Element.global_id == stair)) == 0

    def stair_status():
        return element_service.statuses_of(db_session, project, [stair])[stair]

    def numbers():
        return next(t for t in project_progress(db_session, "p")["tasks"] if t["id"] == task.key)

    assert stair_status() == "unobserved"
    assert numbers()["elements"] == len(linked) - 1  # the stair counts through its two parts, once
    _walk(db_session, "Level 0", {flight: INSTALLED, railing: ABSENT}, "w1", WALKED - dt.timedelta(days=7))
    assert stair_status() == "late"  # a part seen not installed past its due date
    _walk(db_session, "Level 0", {g: INSTALLED for g in linked if g != stair}, "w2")
    assert stair_status() == "installed"
    assert element_service.element_detail(db_session, project, revision, stair)["status"] == "installed"
    assert numbers()["actual_pct"] == 100.0 and numbers()["status"] == "complete"


def test_a_never_walked_storeys_task_is_not_observed_until_a_walk_sees_it_absent(site, db_session):
    """The stored report follows a walk that changed no stage, only what is seen."""
    project = db_session.scalar(select(Project).where(Project.name == "p"))
    version = current_schedule(db_session, project.id)
    task = db_session.scalar(select(Task).where(Task.schedule_id == version.id, Task.name == "structure L1"))
    linked = list(db_session.scalars(select(TaskElement.global_id).where(TaskElement.task_id == task.id)))

    def numbers():
        return next(t for t in progress_report(db_session, project)["tasks"] if t["id"] == task.key)

    before = numbers()
    # nothing seen: not observed, its percent the plan's estimate (the only evidence there is)
    assert (before["status"], before["seen_pct"]) == ("not observed", 0.0)
    assert before["actual_pct"] == before["planned_pct"] > 0
    _walk(db_session, "Level 1", {g: ABSENT for g in linked}, "w1")
    after = numbers()
    assert (after["status"], after["seen_pct"], after["actual_pct"]) == ("behind", 100.0, 0.0)
    assert after["slip_days"] > 0


def test_a_volume_weighted_task_naming_only_the_stair_weighs_its_parts(site, runner, db_session, tmp_path):
    stair, flight, railing = (_gid(db_session, n) for n in ("Stair L0", "Flight L0", "Railing L0"))
    plan = tmp_path / "plan.csv"
    plan.write_text("id,name,planned_start,planned_finish,elements,weight_basis\n"
                    f"S,Stair,2026-01-05,2026-01-09,{stair},volume\n")
    assert runner.invoke(args=["schedule", "import", str(plan), "--project", "p"]).exit_code == 0

    def numbers():
        (task,) = project_progress(db_session, "p")["tasks"]
        return task

    # nothing seen yet: the plan's estimate (the task ended in January: 100 %), and not observed
    assert (numbers()["elements"], numbers()["actual_pct"], numbers()["status"]) == (2, 100.0, "not observed")
    _walk(db_session, "Level 0", {flight: INSTALLED, railing: ABSENT}, "w1", WALKED - dt.timedelta(days=7))
    assert 50.0 < numbers()["actual_pct"] < 100.0  # the flight's steps outweigh the railing's band
    _walk(db_session, "Level 0", {railing: INSTALLED}, "w2")
    assert numbers()["actual_pct"] == 100.0


def test_combine_part_statuses():
    combine = element_service.combine_part_statuses
    assert combine(["installed", "installed"]) == "installed"
    assert combine(["installed", "unobserved"]) == "in_progress"
    assert combine(["not_started", "unobserved"]) == "not_started"
    assert combine(["unobserved", "unobserved"]) == "unobserved"
    assert combine(["installed", "late"]) == "late"
    assert combine(["installed", "review"]) == "review"
    assert combine([]) == "unobserved"


def test_the_assembly_index_migration_upgrades_and_downgrades(app):
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    def indexes():
        return {i["name"] for i in inspect(db.engine).get_indexes("elements")}

    with app.app_context():
        assert "ix_elements_revision_assembly" in indexes()
        downgrade(revision="0010_user_sessions")
        db.engine.dispose()
        assert "ix_elements_revision_assembly" not in indexes()
        upgrade()
        db.engine.dispose()
        assert "ix_elements_revision_assembly" in indexes()
