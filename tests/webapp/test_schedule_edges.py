"""Schedules at the edges (issue #22, items 3, 4 and 6): an empty schedule (header-only CSV, MS
Project XML or P6 XER without tasks) and a CSV cell over 128 KiB are refused by the CLI (exit 2)
and the API (400), naming the file, and the current version stays; texts that can reach an alert's
headers are cleaned at import. SQLite and PostgreSQL."""

import csv
import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import table_dump
from twin.generate import generate_building
from twin.schedule import clean_text, read_schedule
from twin.schedule.model import Schedule
from twin.schedule.model import Task as SchedTask
from twin.schedule.mspdi import NS
from twin.schedule.xer import write_xer
from webapp.models import Element, ScheduleVersion, Task

HEADER = "id,name,planned_start,planned_finish,elements,trade,predecessors\n"


@pytest.fixture
def project(runner, tmp_path):
    """Project 'p' with its model's schedule as version 1, and a manager token for the API."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=5)
    for args in (["ingest", str(path), "--project", "p"],
                 ["schedule", "import", str(path), "--project", "p"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.stderr
    result = runner.invoke(args=["token", "create", "--project", "p", "--name", "pm", "--role", "manager",
                                 "--json"])
    return json.loads(result.stdout)["token"]


def empty_mspdi() -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Project xmlns="{NS}"><Name>Empty</Name><Tasks>'
            "<Task><UID>0</UID><Name>Empty</Name><OutlineLevel>0</OutlineLevel></Task></Tasks></Project>").encode()


def empty_xer(folder: Path) -> bytes:
    """A P6 export with its project, calendar and WBS but no activity: the TASK table has no row."""
    walls = SchedTask("A", "Walls", dt.date(2027, 1, 4), dt.date(2027, 1, 8))
    path = write_xer(Schedule("Empty", "xer", [walls]), folder / "one.xer")
    lines, table = [], None
    for line in path.read_text(encoding="cp1252").splitlines():
        table = line.split("\t")[1] if line.startswith("%T") else table
        if not (line.startswith("%R") and table in ("TASK", "TASKPRED", "UDFVALUE")):
            lines.append(line)
    return ("\n".join(lines) + "\n").encode("cp1252")


EMPTY = {"header-only.csv": HEADER.encode(), "no-tasks.xml": empty_mspdi(),
         "no-tasks.xer": empty_xer(Path(tempfile.mkdtemp(prefix="xer-")))}


def dump(db_session) -> dict:
    """Every row but the tokens' (an API request records when its token was last used)."""
    return {name: rows for name, rows in table_dump(db_session).items() if name != "api_tokens"}


def versions(db_session) -> list[int]:
    db_session.expire_all()
    return list(db_session.scalars(select(ScheduleVersion.number).order_by(ScheduleVersion.number)))


def upload(app, token: str, name: str, data: bytes, **form):
    return app.test_client().post("/api/v1/schedules", headers={"Authorization": f"Bearer {token}"},
                                  data={"file": (io.BytesIO(data), name), **form},
                                  content_type="multipart/form-data")


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_an_empty_schedule_is_refused_and_the_current_version_stays(app, runner, db_session, project,
                                                                    tmp_path, name):
    path = tmp_path / name
    path.write_bytes(EMPTY[name])
    before = dump(db_session)
    for lenient in ([], ["--lenient"]):
        result = runner.invoke(args=["schedule", "import", str(path), "--project", "p", *lenient])
        assert result.exit_code == 2, result.output
        assert name in result.stderr and ("no tasks" in result.stderr or "no activities" in result.stderr)
    response = upload(app, project, name, EMPTY[name])
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"].startswith(name)
    assert any("no tasks" in p or "no activities" in p for p in body["problems"])
    assert str(tmp_path) not in json.dumps(body)
    assert dump(db_session) == before and versions(db_session) == [1]


def test_a_lenient_import_that_would_keep_no_task_is_refused(app, runner, db_session, project, tmp_path):
    path = tmp_path / "all-bad.csv"
    path.write_text(HEADER + "A,Backwards,2027-01-08,2027-01-04,,,\nB,No dates,,,,,\n")
    result = runner.invoke(args=["schedule", "import", str(path), "--project", "p", "--lenient"])
    assert result.exit_code == 2 and "no sound task" in result.stderr
    assert versions(db_session) == [1]


def test_a_csv_cell_over_128_kib_is_refused_naming_the_file_and_line(app, runner, db_session, project,
                                                                     tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + "A,Walls,2027-01-04,2027-01-08,,,\n" + f"B,{'x' * (128 * 1024 + 1)},2027-01-04,"
                    "2027-01-08,,,\n")
    before = dump(db_session)
    result = runner.invoke(args=["schedule", "import", str(path), "--project", "p"])
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr and "line 3" in result.stderr and "field limit" in result.stderr
    response = upload(app, project, "huge.csv", path.read_bytes())
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"].startswith("huge.csv") and "line 3" in body["problems"][0]
    assert dump(db_session) == before and versions(db_session) == [1]


def test_line_breaks_and_control_characters_are_cleaned_at_import(app, runner, db_session, project, tmp_path):
    with app.app_context():
        gids = list(db_session.scalars(select(Element.global_id).limit(2)))
    path = tmp_path / "dirty.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.strip().split(","))
        writer.writerow(["A\r\n1", "Walls\r\nBcc: evil@example.com", "2027-01-04", "2027-01-08", gids[0],
                         "struc\x00ture\u2028", ""])
        writer.writerow(["B", "Roof\x1b[31m", "2027-01-09", "2027-01-12", gids[1], "roofing", "A\r\n1"])
    result = runner.invoke(args=["schedule", "import", str(path), "--project", "p", "--json"])
    assert result.exit_code == 0, result.stderr  # the predecessor still finds its cleaned task
    assert json.loads(result.stdout)["version"] == 2
    db_session.expire_all()
    rows = {t.key: t for t in db_session.scalars(select(Task).join(ScheduleVersion)
                                                 .where(ScheduleVersion.number == 2))}
    assert set(rows) == {"A 1", "B"}
    assert rows["A 1"].name == "Walls Bcc: evil@example.com" and rows["A 1"].trade == "struc ture"
    assert rows["B"].name == "Roof [31m" and rows["B"].predecessors == [["A 1", "FS", 0.0]]
    for row in rows.values():
        for text in (row.key, row.name, row.trade or ""):
            assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in text)


def test_clean_text_turns_every_line_break_and_control_into_one_space():
    assert clean_text("a\r\nb") == "a b"
    assert clean_text("\ta\x00\x01b\x7f\x85c\u2028d\u2029 ") == "a b c d"
    assert clean_text("Ünïcode – fine") == "Ünïcode – fine"


def test_read_schedule_refuses_an_empty_file_before_anything_else(tmp_path):
    from twin.schedule import ScheduleImportError

    for name, data in EMPTY.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ScheduleImportError) as refused:
            read_schedule(path)
        assert refused.value.source == str(path) and refused.value.problems[0].field == "tasks"


def test_a_project_name_with_a_line_break_is_refused_at_ingest(runner, tmp_path, db_session):
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=5)
    result = runner.invoke(args=["ingest", str(path), "--project", "Site\r\nBcc: evil@example.com"])
    assert result.exit_code == 2 and "control characters" in result.stderr
    from webapp.models import Project

    assert db_session.scalar(select(Project.id)) is None
