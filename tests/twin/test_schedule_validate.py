"""Validation: each problem found and named; strict imports nothing, lenient keeps what is sound."""

import datetime as dt

import pytest

from twin.schedule import ImportProblem, ScheduleImportError, check, validate
from twin.schedule.model import Predecessor, Schedule, Task

D = dt.date
KNOWN = {"W1", "W2"}


def task(task_id, **changes):
    return Task(task_id, task_id, D(2027, 1, 4), D(2027, 1, 8), **changes)


def problems_of(*tasks):
    return validate(Schedule("s", "csv", list(tasks)), KNOWN)


def test_a_sound_schedule_has_no_problem():
    assert problems_of(task("A", elements=("W1",)), task("B", parent="A", predecessors=(Predecessor("A", "SS", 2),))) == []


def test_a_link_to_an_unknown_globalid_is_named():
    assert problems_of(task("A", elements=("W1", "GHOST"))) == [ImportProblem("A", "elements", "unknown GlobalId GHOST")]


def test_a_finish_before_its_start_is_named_with_both_dates():
    (problem,) = problems_of(Task("A", "A", D(2027, 1, 10), D(2027, 1, 4)))
    assert (problem.task, problem.field) == ("A", "planned_finish")
    assert "2027-01-04 before start 2027-01-10" in problem.message


def test_an_unknown_predecessor_is_named():
    assert problems_of(task("A", predecessors=(Predecessor("Z"),))) == [
        ImportProblem("A", "predecessors", "unknown predecessor 'Z'")]


def test_a_cycle_is_named_as_its_chain_of_tasks():
    (problem,) = problems_of(task("A", predecessors=(Predecessor("C"),)), task("B", predecessors=(Predecessor("A"),)),
                             task("C", predecessors=(Predecessor("B"),)), task("D"))
    assert problem.field == "predecessors"
    assert problem.message == "cycle A → C → B → A"


def test_a_duplicate_id_is_named():
    assert problems_of(task("A"), task("A")) == [ImportProblem("A", "id", "duplicate task id")]


def test_an_unknown_parent_is_named():
    assert problems_of(task("A", parent="P")) == [ImportProblem("A", "parent", "unknown parent 'P'")]


def test_strict_check_names_every_problem_and_imports_nothing():
    schedule = Schedule("bad", "csv", [
        Task("A", "A", D(2027, 1, 10), D(2027, 1, 4), elements=("GHOST",)),
        task("B", predecessors=(Predecessor("C"),)), task("C", predecessors=(Predecessor("B"),)),
        task("D", elements=("W1",), parent="NOPE"), task("D"),
    ])
    with pytest.raises(ScheduleImportError) as error:
        check(schedule, KNOWN, source="bad.csv")
    message = str(error.value)
    assert message.startswith("bad.csv: 5 problem(s)")
    for expected in ("GHOST", "finish 2027-01-04 before start 2027-01-10", "cycle B → C → B", "unknown parent 'NOPE'",
                     "duplicate task id"):
        assert expected in message
    assert len(error.value.problems) == 5


def test_lenient_check_drops_unsound_tasks_and_links_and_keeps_the_rest():
    schedule = Schedule("bad", "csv", [
        Task("A", "A", D(2027, 1, 10), D(2027, 1, 4)),
        task("B", predecessors=(Predecessor("C"),)), task("C", predecessors=(Predecessor("B"),)),
        task("D", elements=("W1", "GHOST"), parent="NOPE", predecessors=(Predecessor("Z"), Predecessor("E"))),
        task("E", elements=("W2",)), Task("E", "second E", D(2027, 2, 1), D(2027, 2, 2)),
    ])
    kept, problems = check(schedule, KNOWN, lenient=True)
    assert [(t.id, t.name) for t in kept.tasks] == [("D", "D"), ("E", "E")]
    d = kept.by_id()["D"]
    assert (d.elements, d.parent, d.predecessors) == (("W1",), None, (Predecessor("E"),))
    assert {p.field for p in problems} == {"planned_finish", "predecessors", "elements", "parent", "id"}
    assert check(kept, KNOWN) == (kept, [])
