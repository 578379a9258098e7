"""Schedule importers: IFC 4D (buildingSMART's example), MSPDI and XER round trips, CSV, validation."""

import datetime as dt

import pytest

from tests.conftest import shared_model
from tests.ifc_factory import make_room, write
from twin.generate import generate_building
from twin.ifc import open_model
from twin.schedule import ScheduleImportError, check, read_schedule
from twin.schedule.ifc4d import read_ifc_schedule
from twin.schedule.model import Predecessor, Schedule, Task
from twin.schedule.mspdi import read_mspdi, write_mspdi
from twin.schedule.xer import read_xer, write_xer

D = dt.date


@pytest.fixture(scope="module")
def buildingsmart():
    model = open_model(shared_model("construction-scheduling-task.ifc"))
    return model, read_ifc_schedule(model)


def test_the_buildingsmart_example_imports_every_task_date_nesting_sequence_and_link(buildingsmart):
    model, schedule = buildingsmart
    by_name = {t.name: t for t in schedule.tasks}
    assert len(schedule.tasks) == len(model.by_type("IfcTask")) == 8
    # Dates: the file's early dates for the leaves, summaries spanning their children.
    assert (by_name["Slab #1"].planned_start, by_name["Slab #1"].planned_finish) == (D(2010, 9, 20), D(2010, 9, 20))
    assert (by_name["Wall #4"].planned_start, by_name["Wall #4"].planned_finish) == (D(2010, 9, 24), D(2010, 9, 24))
    assert (by_name["Wall (Standard)"].planned_start, by_name["Wall (Standard)"].planned_finish) == (
        D(2010, 9, 21), D(2010, 9, 24))
    assert (by_name["Ground Level"].planned_start, by_name["Ground Level"].planned_finish) == (
        D(2010, 9, 20), D(2010, 9, 24))
    # Nesting (IfcRelNests) and sequences (7 IfcRelSequence).
    assert by_name["Wall #2"].parent == by_name["Wall (Standard)"].id
    assert by_name["Wall (Standard)"].parent == by_name["Ground Level"].id
    assert sum(len(t.predecessors) for t in schedule.tasks) == len(model.by_type("IfcRelSequence")) == 7
    assert {p.task for p in by_name["Wall #2"].predecessors} == {by_name["Slab #1"].id, by_name["Wall #1"].id}
    # Product links (IfcRelAssignsToProduct): every element, each by exactly one task.
    linked = [g for t in schedule.tasks for g in t.elements]
    assert sorted(linked) == sorted(e.GlobalId for e in model.by_type("IfcElement"))


def test_a_task_with_only_a_duration_is_placed_after_its_predecessors():
    from twin.schedule.ifc4d import derive_dates

    tasks = [Task("a", "A", D(2027, 1, 4), D(2027, 1, 8)),
             Task("b", "B", None, None, predecessors=(Predecessor("a"),), duration_days=3)]
    b = derive_dates(tasks)[1]
    assert (b.planned_start, b.planned_finish) == (D(2027, 1, 9), D(2027, 1, 11))


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


def test_every_problem_is_named_and_nothing_is_imported_by_default():
    schedule = Schedule("bad", "csv", [
        Task("A", "A", D(2027, 1, 10), D(2027, 1, 4), elements=("GHOST",)),
        Task("B", "B", D(2027, 1, 4), D(2027, 1, 5), predecessors=(Predecessor("C"),)),
        Task("C", "C", D(2027, 1, 4), D(2027, 1, 5), predecessors=(Predecessor("B"),)),
        Task("D", "D", D(2027, 1, 4), D(2027, 1, 5), elements=("W1",)),
    ])
    with pytest.raises(ScheduleImportError) as error:
        check(schedule, {"W1"})
    message = str(error.value)
    assert "GHOST" in message and "finish 2027-01-04 before start 2027-01-10" in message and "cycle" in message
    kept, problems = check(schedule, {"W1"}, lenient=True)
    assert [t.id for t in kept.tasks] == ["D"]
    assert len(problems) == 3


def test_an_unknown_format_is_refused_by_name(tmp_path):
    path = tmp_path / "plan.mpp"
    path.write_bytes(b"binary")
    with pytest.raises(ScheduleImportError, match="unknown schedule format"):
        read_schedule(path)
