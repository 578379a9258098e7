"""The sample building's 4D schedule: one task per trade per storey, in site order, linked to elements.

Written with ``ifcopenshell.api.sequence`` (work plan, work schedule, nested tasks, task times,
FINISH_START sequences). Each physical element is linked to the one task that installs it with an
IfcRelAssignsToProcess (one relationship per task, all its elements at once). Dates are working
days (Monday to Friday) from ``start``; durations grow with the amount of work.
"""

from __future__ import annotations

import datetime as dt
import math

import ifcopenshell
import ifcopenshell.api

from twin.generate.layout import TRADES

# Working days per task: a fixed set-up plus a rate per element installed (crew productivity).
_BASE_DAYS = {"structure": 8, "envelope": 6, "partitions framing": 4, "MEP rough-in": 5, "boarding": 5,
              "ceilings": 4, "finishes and fixtures": 5}
_PER_ELEMENT = {"structure": 0.08, "envelope": 0.1, "partitions framing": 0.15, "MEP rough-in": 0.05,
                "boarding": 0.0, "ceilings": 0.1, "finishes and fixtures": 0.03}


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The date ``days`` working days (Mon–Fri) after ``day`` (``day`` itself counts as day 0)."""
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    remaining = days
    while remaining > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return day


def next_working_day(day: dt.date) -> dt.date:
    return add_working_days(day + dt.timedelta(days=1), 0)


def write_schedule(model: ifcopenshell.file, storeys: int, by_task: dict[tuple[int, str], list],
                   start: dt.date, new_guid) -> int:
    """Add the work plan and schedule; returns the number of tasks (summaries included)."""
    plan = ifcopenshell.api.run("sequence.add_work_plan", model, name="Construction programme")
    schedule = ifcopenshell.api.run("sequence.add_work_schedule", model, name="Baseline", predefined_type="PLANNED",
                                    work_plan=plan)
    # The api stamps "now"; the programme's own dates keep a seed's file reproducible.
    for control in (plan, schedule):
        control.CreationDate = control.StartTime = dt.datetime.combine(start, dt.time(8)).isoformat()
    root = ifcopenshell.api.run("sequence.add_task", model, work_schedule=schedule, name="Construction",
                                identification="1")
    finish_of: dict[tuple[int, str], dt.date] = {}
    tasks: dict[tuple[int, str], ifcopenshell.entity_instance] = {}
    count = 1
    summaries = []
    for s in range(storeys):
        summary = ifcopenshell.api.run("sequence.add_task", model, parent_task=root, name=f"Level {s}",
                                       identification=f"1.{s + 1}")
        count += 1
        first_start = None
        for k, trade in enumerate(TRADES):
            products = by_task.get((s, trade), [])
            if k == 0:
                after = finish_of.get((s - 1, "structure"))
            else:
                after = finish_of[(s, TRADES[k - 1])]
            task_start = next_working_day(after) if after else add_working_days(start, 0)
            duration = _BASE_DAYS[trade] + math.ceil(_PER_ELEMENT[trade] * len(products))
            task_finish = add_working_days(task_start, duration - 1)
            task = ifcopenshell.api.run("sequence.add_task", model, parent_task=summary, name=f"{trade} L{s}",
                                        identification=f"1.{s + 1}.{k + 1}", predefined_type="CONSTRUCTION")
            task.ObjectType = trade
            task_time = ifcopenshell.api.run("sequence.add_task_time", model, task=task)
            ifcopenshell.api.run("sequence.edit_task_time", model, task_time=task_time, attributes={
                "ScheduleStart": dt.datetime.combine(task_start, dt.time(8)),
                "ScheduleFinish": dt.datetime.combine(task_finish, dt.time(17)),
                "ScheduleDuration": f"P{duration}D",
                "DurationType": "WORKTIME",
            })
            if products:
                model.createIfcRelAssignsToProcess(new_guid(), None, f"{trade} L{s}", None, products, None,
                                                   task, None)
            finish_of[(s, trade)] = task_finish
            tasks[(s, trade)] = task
            first_start = first_start or task_start
            count += 1
        summaries.append((summary, first_start, finish_of[(s, TRADES[-1])]))
    for s in range(storeys):
        for k in range(1, len(TRADES)):
            ifcopenshell.api.run("sequence.assign_sequence", model, relating_process=tasks[(s, TRADES[k - 1])],
                                 related_process=tasks[(s, TRADES[k])])
        if s:
            ifcopenshell.api.run("sequence.assign_sequence", model, relating_process=tasks[(s - 1, "structure")],
                                 related_process=tasks[(s, "structure")])
    for task, first, last in [*summaries, (root, start, max(f for _, _, f in summaries))]:
        task_time = ifcopenshell.api.run("sequence.add_task_time", model, task=task)
        ifcopenshell.api.run("sequence.edit_task_time", model, task_time=task_time, attributes={
            "ScheduleStart": dt.datetime.combine(first, dt.time(8)),
            "ScheduleFinish": dt.datetime.combine(last, dt.time(17)),
        })
    return count
