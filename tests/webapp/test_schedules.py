"""`sitetwin schedule import` and `sitetwin progress` on a generated building, both databases."""

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from tests.conftest import table_dump
from twin.generate import generate_building
from twin.ifc import open_model
from twin.schedule.ifc4d import read_ifc_schedule
from twin.schedule.mspdi import write_mspdi
from webapp.models import ScheduleVersion, TaskElement


@pytest.fixture
def project(runner, tmp_path):
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, seed=5)
    result = runner.invoke(args=["ingest", str(path), "--project", "p"])
    assert result.exit_code == 0, result.stderr
    return path


def test_the_models_own_schedule_imports_as_version_1_and_again_is_a_no_op(runner, db_session, project):
    result = runner.invoke(args=["schedule", "import", str(project), "--project", "p", "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    model = open_model(project)
    physical = [e for e in model.by_type("IfcElement") if not e.is_a("IfcFeatureElement")]
    assert out["version"] == 1 and out["linked_elements"] == len(physical) and out["problems"] == []
    again = json.loads(runner.invoke(args=["schedule", "import", str(project), "--project", "p", "--json"]).stdout)
    assert again["unchanged"] is True and again["version"] == 1


def test_a_rebaseline_keeps_the_old_version(runner, db_session, project, tmp_path):
    runner.invoke(args=["schedule", "import", str(project), "--project", "p"])
    schedule = read_ifc_schedule(open_model(project))
    xml = write_mspdi(schedule, tmp_path / "rebaseline.xml")
    result = runner.invoke(args=["schedule", "import", str(xml), "--project", "p", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 2
    assert db_session.scalar(select(func.count()).select_from(ScheduleVersion)) == 2


def test_a_schedule_naming_unknown_elements_is_refused_whole_unless_lenient(runner, db_session, project, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,planned_start,planned_finish,elements\n"
                   "A,Ghost walls,2027-01-04,2027-01-08,0000000000000000000000\n"
                   "B,Backwards,2027-01-08,2027-01-04,\n"
                   "C,Fine,2027-01-04,2027-01-08,\n")
    before = table_dump(db_session)
    result = runner.invoke(args=["schedule", "import", str(bad), "--project", "p"])
    assert result.exit_code == 2
    assert "0000000000000000000000" in result.stderr and "before start" in result.stderr
    assert table_dump(db_session) == before
    result = runner.invoke(args=["schedule", "import", str(bad), "--project", "p", "--lenient", "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["tasks"] == 2 and len(out["problems"]) == 2
    assert db_session.scalar(select(func.count()).select_from(TaskElement)) == 0


def test_progress_before_anything_is_seen_is_nothing_done_and_not_observed_not_behind(runner, project):
    runner.invoke(args=["schedule", "import", str(project), "--project", "p"])
    result = runner.invoke(args=["progress", "--project", "p", "--date", "2027-02-15", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # nothing seen: the percent is the plan's estimate, not "nothing done" and not a slip; nothing
    # has been seen installed
    overall = report["overall"]
    assert overall["actual_pct"] == overall["planned_pct"] > 50 and overall["slip_days"] == 0
    assert overall["seen_pct"] == 0.0 and overall["seen_installed_pct"] == 0.0
    structure = next(t for t in report["tasks"] if t["name"].startswith("structure"))
    assert structure["status"] == "not observed" and structure["seen_pct"] == 0.0
    assert structure["forecast_finish"] is None
    assert report["s_curve"][-1]["date"] == "2027-02-15"
    # the text says the figure is an estimate, and how much of each task was seen
    text = runner.invoke(args=["progress", "--project", "p", "--date", "2027-02-15"]).stdout
    assert (f"{overall['actual_pct']} % done (estimated: 0.0 % seen installed, 0.0 % of elements seen)"
            in text.splitlines()[0])
    assert f"  {structure['name']}: " in text and "not observed, 0.0 % seen, forecast None" in text


def test_a_task_seen_absent_past_its_plan_is_behind(runner, db_session, project):
    from webapp.models import Element, ElementStatus, Project

    runner.invoke(args=["schedule", "import", str(project), "--project", "p"])
    project_id = db_session.scalar(select(Project.id).where(Project.name == "p"))
    walked = dt.datetime(2027, 2, 8, tzinfo=dt.UTC)
    columns = db_session.scalars(select(Element.global_id).where(Element.ifc_class == "IfcColumn")).all()
    for gid in columns:
        db_session.add(ElementStatus(project_id=project_id, global_id=gid, stage=0, first_seen=walked,
                                     last_seen=walked))
    db_session.commit()
    result = runner.invoke(args=["progress", "--project", "p", "--date", "2027-02-15", "--json"])
    structure = next(t for t in json.loads(result.stdout)["tasks"] if t["name"].startswith("structure"))
    assert structure["status"] == "behind" and 0 < structure["seen_pct"] < 100


def test_a_volume_weighted_task_uses_the_elements_boxes(runner, db_session, project, tmp_path):
    from webapp.models import Element, ElementStatus, Project

    slabs = db_session.execute(select(Element.global_id).where(Element.ifc_class == "IfcSlab")).scalars().all()
    columns = db_session.execute(select(Element.global_id).where(Element.ifc_class == "IfcColumn")).scalars().all()
    plan = tmp_path / "plan.csv"
    plan.write_text("id,name,planned_start,planned_finish,elements,weight_basis\n"
                    f"S,Structure,2027-01-04,2027-01-29,{';'.join(slabs + columns)},volume\n")
    assert runner.invoke(args=["schedule", "import", str(plan), "--project", "p"]).exit_code == 0
    project_id = db_session.scalar(select(Project.id).where(Project.name == "p"))
    for gid in slabs:  # the slabs (most of the concrete) are in, the columns not
        db_session.add(ElementStatus(project_id=project_id, global_id=gid, stage=1, probability=0.9))
    db_session.commit()
    report = json.loads(runner.invoke(args=["progress", "--project", "p", "--date", "2027-01-15", "--json"]).stdout)
    share_by_count = 100 * len(slabs) / (len(slabs) + len(columns))
    assert report["tasks"][0]["actual_pct"] > share_by_count + 20
