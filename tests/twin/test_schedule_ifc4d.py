"""IFC 4D schedules: buildingSMART's example by the file's own values, the forward pass on its
work calendar, and a schedule built in memory with ifcopenshell.api.sequence."""

import datetime as dt

import ifcopenshell
import ifcopenshell.api.root
import ifcopenshell.api.sequence
import ifcopenshell.util.date as ifc_date
import pytest

from tests.conftest import shared_model
from tests.ifc_factory import make_room
from twin.schedule.ifc4d import derive_dates, read_ifc_schedule
from twin.schedule.model import Predecessor, Task

D = dt.date


def _day(value):
    return ifc_date.ifc2datetime(value).date() if value else None


@pytest.fixture()
def buildingsmart():
    return ifcopenshell.open(str(shared_model("construction-scheduling-task.ifc")))


def test_the_buildingsmart_example_imports_every_task_date_nesting_sequence_and_product_link(buildingsmart):
    model = buildingsmart
    schedule = read_ifc_schedule(model)
    got = schedule.by_id()
    tasks = model.by_type("IfcTask")
    assert len(tasks) == len(schedule.tasks) == 8
    for task in tasks:
        mine, time = got[task.GlobalId], task.TaskTime
        assert mine.name == task.Name
        # The file leaves most ScheduleStart/Finish empty: its early dates are the plan.
        assert mine.planned_start == (_day(time.ScheduleStart) or _day(time.EarlyStart))
        assert mine.planned_finish == (_day(time.ScheduleFinish) or _day(time.EarlyFinish))
        nests = [rel.RelatingObject for rel in task.Nests]
        assert mine.parent == (nests[0].GlobalId if nests else None)
        assert {p.task for p in mine.predecessors} == {rel.RelatingProcess.GlobalId for rel in task.IsSuccessorFrom}
        products = {rel.RelatingProduct.GlobalId for rel in task.HasAssignments if rel.is_a("IfcRelAssignsToProduct")}
        assert set(mine.elements) | set(mine.locations) == products
    assert sum(len(t.predecessors) for t in schedule.tasks) == len(model.by_type("IfcRelSequence")) == 7
    links = [g for t in schedule.tasks for g in (*t.elements, *t.locations)]
    assert len(links) == len(model.by_type("IfcRelAssignsToProduct")) == 6
    # Five physical elements, one per leaf task; the root task works on the storey.
    assert sorted(g for t in schedule.tasks for g in t.elements) == sorted(e.GlobalId for e in model.by_type("IfcElement"))
    ground = next(t for t in schedule.tasks if t.name == "Ground Level")
    assert ground.locations == (model.by_type("IfcBuildingStorey")[0].GlobalId,)
    assert (ground.planned_start, ground.planned_finish) == (D(2010, 9, 20), D(2010, 9, 24))


def test_its_40_work_hours_on_an_8_hour_calendar_are_5_working_days(buildingsmart):
    ground = next(t for t in read_ifc_schedule(buildingsmart).tasks if t.name == "Ground Level")
    assert ground.duration_days == 5.0  # P0Y0M1DT16H0M0S, calendar 08:00-16:00


def test_without_dates_the_forward_pass_reproduces_the_files_early_dates_and_skips_its_weekend(buildingsmart):
    model = buildingsmart
    expected = {t.GlobalId: (_day(t.TaskTime.EarlyStart), _day(t.TaskTime.EarlyFinish)) for t in model.by_type("IfcTask")}
    for time in model.by_type("IfcTaskTime"):
        for attribute in ("ScheduleStart", "ScheduleFinish", "EarlyStart", "EarlyFinish", "LateStart", "LateFinish"):
            setattr(time, attribute, None)
    slab = next(t for t in model.by_type("IfcTask") if t.Name == "Slab #1")
    slab.TaskTime.ScheduleStart = "2010-09-20T08:00:00"  # a Monday; only this date is left
    got = read_ifc_schedule(model).by_id()
    leaves = [t for t in model.by_type("IfcTask") if not t.IsNestedBy]
    for task in leaves:
        assert (got[task.GlobalId].planned_start, got[task.GlobalId].planned_finish) == expected[task.GlobalId]
    # Start the slab on a Friday: the walls follow on Monday to Thursday (Mon-Fri calendar).
    slab.TaskTime.ScheduleStart = "2010-09-17T08:00:00"
    by_name = {t.name: t for t in read_ifc_schedule(model).tasks}
    assert [by_name[f"Wall #{k}"].planned_start for k in range(1, 5)] == [D(2010, 9, 20), D(2010, 9, 21),
                                                                         D(2010, 9, 22), D(2010, 9, 23)]
    assert (by_name["Ground Level"].planned_start, by_name["Ground Level"].planned_finish) == (D(2010, 9, 17),
                                                                                              D(2010, 9, 23))


def test_a_schedule_built_with_the_sequence_api_reads_back_with_process_links_relations_and_lags():
    model = make_room()
    walls = model.by_type("IfcWall")
    slab = model.by_type("IfcSlab")[0]
    work = ifcopenshell.api.sequence.add_work_schedule(model, name="Build room")
    root = ifcopenshell.api.sequence.add_task(model, work_schedule=work, name="Room", identification="R")
    floor = ifcopenshell.api.sequence.add_task(model, parent_task=root, name="Floor", identification="R.1",
                                               predefined_type="CONSTRUCTION")
    walling = ifcopenshell.api.sequence.add_task(model, parent_task=root, name="Walls", identification="R.2")
    for task, start, duration in ((floor, "2027-03-01T08:00:00", "P3D"), (walling, None, "P4D")):
        time = ifcopenshell.api.sequence.add_task_time(model, task=task)
        ifcopenshell.api.sequence.edit_task_time(model, task_time=time, attributes={
            "ScheduleStart": start, "ScheduleDuration": duration, "DurationType": "ELAPSEDTIME"})
    ifcopenshell.api.sequence.assign_process(model, relating_process=floor, related_object=slab)
    for wall in walls:
        ifcopenshell.api.sequence.assign_process(model, relating_process=walling, related_object=wall)
    sequence = ifcopenshell.api.sequence.assign_sequence(model, relating_process=floor, related_process=walling,
                                                         sequence_type="START_START")
    ifcopenshell.api.sequence.assign_lag_time(model, rel_sequence=sequence, lag_value="P2D",
                                              duration_type="ELAPSEDTIME")
    # The API cascades dates itself; clear the walls' so that the reader's forward pass places them.
    walling.TaskTime.ScheduleStart = walling.TaskTime.ScheduleFinish = None

    schedule = read_ifc_schedule(model)
    by_name = {t.name: t for t in schedule.tasks}
    assert schedule.name == "Build room"
    assert by_name["Floor"].elements == (slab.GlobalId,)
    assert sorted(by_name["Walls"].elements) == sorted(w.GlobalId for w in walls)
    assert by_name["Floor"].trade == "CONSTRUCTION"
    assert by_name["Walls"].predecessors == (Predecessor(floor.GlobalId, "SS", 2.0),)
    assert (by_name["Floor"].planned_start, by_name["Floor"].planned_finish) == (D(2027, 3, 1), D(2027, 3, 3))
    assert (by_name["Walls"].planned_start, by_name["Walls"].planned_finish) == (D(2027, 3, 3), D(2027, 3, 6))
    assert by_name["Walls"].parent == by_name["Floor"].parent == root.GlobalId
    assert (by_name["Room"].planned_start, by_name["Room"].planned_finish) == (D(2027, 3, 1), D(2027, 3, 6))


def test_a_task_with_only_a_duration_is_placed_after_its_predecessors():
    tasks = [Task("a", "A", D(2027, 1, 4), D(2027, 1, 8)),
             Task("b", "B", None, None, predecessors=(Predecessor("a"),), duration_days=3),
             Task("c", "C", None, None, predecessors=(Predecessor("a", "FF", 1),), duration_days=2),
             Task("d", "D", None, None, predecessors=(Predecessor("a", "FS", 2),), duration_days=1)]
    got = {t.id: (t.planned_start, t.planned_finish) for t in derive_dates(tasks)}
    assert got["b"] == (D(2027, 1, 9), D(2027, 1, 11))
    assert got["c"] == (D(2027, 1, 8), D(2027, 1, 9))  # finishes a day after A
    assert got["d"] == (D(2027, 1, 11), D(2027, 1, 11))  # two days' lag after A's finish


def test_a_generated_buildings_tasks_carry_their_trade(tmp_path):
    from twin.generate import generate_building
    from twin.generate.layout import TRADES
    from twin.ifc import open_model
    from twin.schedule.ifc4d import read_ifc_schedule

    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, seed=2)
    leaves = [t for t in read_ifc_schedule(open_model(path)).tasks if t.elements or t.name.startswith("boarding")]
    assert {t.trade for t in leaves} <= set(TRADES) and "structure" in {t.trade for t in leaves}
