"""Schedule files: MSPDI and XER round trips, CSV with selectors, link files, format dispatch."""

import datetime as dt

import pytest

from tests.ifc_factory import make_room, write
from twin.generate import generate_building
from twin.ifc import open_model
from twin.schedule import ScheduleImportError, check, read_schedule, sniff_format
from twin.schedule.ifc4d import read_ifc_schedule
from twin.schedule.model import Predecessor, Schedule, Task
from twin.schedule.mspdi import read_mspdi, write_mspdi
from twin.schedule.xer import read_xer, write_xer

D = dt.date


def test_a_generated_buildings_schedule_round_trips_through_mspdi_and_xer(tmp_path):
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=2, seed=3)
    original = read_ifc_schedule(open_model(path))
    for writer, reader, name in ((write_mspdi, read_mspdi, "b.xml"), (write_xer, read_xer, "b.xer")):
        back = reader(writer(original, tmp_path / name))
        leaves = {t.id for t in original.tasks if not any(k.parent == t.id for k in original.tasks)}
        got = {t.id: t for t in back.tasks}
        for task in original.tasks:
            assert got[task.id].name == task.name
            assert (got[task.id].planned_start, got[task.id].planned_finish) == (task.planned_start, task.planned_finish)
            if task.id in leaves:
                assert got[task.id].elements == task.elements
                assert {p.task for p in got[task.id].predecessors} == {p.task for p in task.predecessors}


def test_a_csv_schedule_with_selectors_links_the_selected_elements(tmp_path):
    model_path = write(make_room(), tmp_path / "room.ifc")
    model = open_model(model_path)
    walls = sorted(w.GlobalId for w in model.by_type("IfcWall"))
    slab = model.by_type("IfcSlab")[0].GlobalId
    csv_path = tmp_path / "plan.csv"
    csv_path.write_text(
        "id,name,planned_start,planned_finish,elements,predecessors,trade\n"
        f"S,Slab,2027-01-04,2027-01-08,{slab},,structure\n"
        "W,Walls,2027-01-11,2027-01-22,selector:IfcWall,S:FS+2,partitions\n")
    schedule, problems = read_schedule(csv_path, model=model)
    assert problems == []
    walls_task = schedule.by_id()["W"]
    assert sorted(walls_task.elements) == walls
    assert walls_task.predecessors == (Predecessor("S", "FS", 2.0),)
    checked, found = check(schedule, {e.GlobalId for e in model.by_type("IfcElement")})
    assert found == [] and checked.tasks == schedule.tasks


def test_an_unknown_format_is_refused_by_name(tmp_path):
    path = tmp_path / "plan.mpp"
    path.write_bytes(b"binary")
    with pytest.raises(ScheduleImportError, match="unknown schedule format"):
        read_schedule(path)


HAND = Schedule("Hand", "csv", [
    Task("P", "Level 1", D(2027, 3, 1), D(2027, 3, 19)),
    Task("A", "Columns", D(2027, 3, 1), D(2027, 3, 5), parent="P", elements=("C1", "C2"),
         actual_start=D(2027, 3, 2), actual_finish=D(2027, 3, 6)),
    Task("B", "Walls", D(2027, 3, 3), D(2027, 3, 12), parent="P", elements=("W1",),
         predecessors=(Predecessor("A", "SS", 2.0),), actual_start=D(2027, 3, 4)),
    Task("C", "Ceilings", D(2027, 3, 15), D(2027, 3, 19), parent="P", elements=("K1", "K2"),
         predecessors=(Predecessor("B", "FS", 0.0), Predecessor("A", "FF", 1.0))),
], data_date=D(2027, 3, 10))


@pytest.mark.parametrize("writer,reader,name", [(write_mspdi, read_mspdi, "hand.xml"), (write_xer, read_xer, "hand.xer")])
def test_a_schedule_round_trips_with_parents_relations_lags_actuals_and_links(tmp_path, writer, reader, name):
    back = reader(writer(HAND, tmp_path / name))
    got = back.by_id()
    assert set(got) == {t.id for t in HAND.tasks}
    for task in HAND.tasks:
        mine = got[task.id]
        assert (mine.name, mine.parent, mine.planned_start, mine.planned_finish) == (
            task.name, task.parent, task.planned_start, task.planned_finish)
        assert (mine.actual_start, mine.actual_finish) == (task.actual_start, task.actual_finish)
        assert mine.predecessors == task.predecessors
        assert mine.elements == task.elements
    assert back.data_date == D(2027, 3, 10)


def test_an_mspdi_file_without_outline_numbers_takes_its_parents_from_outline_levels(tmp_path):
    path = tmp_path / "levels.xml"
    path.write_text(
        '<?xml version="1.0"?><Project xmlns="http://schemas.microsoft.com/project"><Name>L</Name><Tasks>'
        '<Task><UID>0</UID><Name>Project</Name><OutlineLevel>0</OutlineLevel></Task>'
        '<Task><UID>1</UID><Name>Level 1</Name><OutlineLevel>1</OutlineLevel>'
        '<Start>2027-03-01T08:00:00</Start><Finish>2027-03-05T17:00:00</Finish></Task>'
        '<Task><UID>2</UID><Name>Walls</Name><OutlineLevel>2</OutlineLevel><Notes>walls on L1\nelements: W1;W2</Notes>'
        '<Start>2027-03-01T08:00:00</Start><Finish>2027-03-05T17:00:00</Finish></Task>'
        '<Task><UID>3</UID><Name>Level 2</Name><OutlineLevel>1</OutlineLevel>'
        '<Start>2027-03-08T08:00:00</Start><Finish>2027-03-12T17:00:00</Finish>'
        '<PredecessorLink><PredecessorUID>2</PredecessorUID><Type>1</Type><LinkLag>4800</LinkLag></PredecessorLink>'
        '</Task></Tasks></Project>')
    got = read_mspdi(path).by_id()
    assert set(got) == {"1", "2", "3"}
    assert (got["1"].parent, got["2"].parent, got["3"].parent) == (None, "1", None)
    assert got["2"].elements == ("W1", "W2")
    assert got["3"].predecessors == (Predecessor("2", "FS", 1.0),)  # 4800 tenths of a minute = one 8 h day


def test_a_link_file_adds_elements_and_selectors_to_a_schedule_without_them(tmp_path):
    model = open_model(write(make_room(), tmp_path / "room.ifc"))
    walls = sorted(w.GlobalId for w in model.by_type("IfcWall"))
    slab = model.by_type("IfcSlab")[0].GlobalId
    plan = Schedule("No links", "mspdi", [Task("1", "Slab", D(2027, 1, 4), D(2027, 1, 8)),
                                          Task("2", "Walls", D(2027, 1, 11), D(2027, 1, 15))])
    links = tmp_path / "links.csv"
    links.write_text(f"task_id,elements\n1,{slab}\n2,selector:IfcWall\n9,{slab}\n")
    schedule, problems = read_schedule(write_mspdi(plan, tmp_path / "plan.xml"), model=model, link_file=links)
    assert schedule.by_id()["1"].elements == (slab,)
    assert sorted(schedule.by_id()["2"].elements) == walls
    assert [(p.task, p.field) for p in problems] == [("9", "link file")]


def test_a_selector_that_selects_nothing_is_a_problem(tmp_path):
    model = open_model(write(make_room(), tmp_path / "room.ifc"))
    csv_path = tmp_path / "plan.csv"
    csv_path.write_text("id,name,planned_start,planned_finish,elements\nD,Doors,2027-01-04,2027-01-08,selector:IfcDoor\n")
    schedule, problems = read_schedule(csv_path, model=model)
    assert schedule.tasks[0].elements == ()
    assert "selects no element" in str(problems[0])


def test_a_file_with_an_unhelpful_extension_is_read_by_its_content(tmp_path):
    for name, writer in (("plan.txt", write_mspdi), ("plan.dat", write_xer)):
        path = writer(HAND, tmp_path / name)
        schedule, _ = read_schedule(path)
        assert {t.id for t in schedule.tasks} == {t.id for t in HAND.tasks}
    csv_path = tmp_path / "export.txt"
    csv_path.write_text("id,name,planned_start,planned_finish,elements\nA,A,2027-01-04,2027-01-08,\n")
    assert sniff_format(csv_path) == "csv"


def test_an_xml_file_that_is_not_ms_project_is_refused_by_name(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<?xml version='1.0'?><svg/>")
    with pytest.raises(ScheduleImportError, match="other.xml.*not an MS Project XML file"):
        read_schedule(path)


def test_a_csv_with_a_malformed_date_names_the_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,name,planned_start,planned_finish,elements\nA,A,2027-13-04,2027-01-08,\n")
    with pytest.raises(ScheduleImportError, match="task A: planned_start: not an ISO date"):
        read_schedule(path)
