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


def _add_calendar(model: ifcopenshell.file) -> ifcopenshell.entity_instance:
    """A Monday-to-Friday, 08:00-17:00 IfcWorkCalendar, so the api's date arithmetic skips weekends."""
    calendar = ifcopenshell.api.run("sequence.add_work_calendar", model, name="Mon-Fri")
    work_time = ifcopenshell.api.run("sequence.add_work_time", model, work_calendar=calendar,
                                     time_type="WorkingTimes")
    pattern = ifcopenshell.api.run("sequence.assign_recurrence_pattern", model, parent=work_time,
                                   recurrence_type="WEEKLY")
    ifcopenshell.api.run("sequence.edit_recurrence_pattern", model, recurrence_pattern=pattern,
                         attributes={"WeekdayComponent": [1, 2, 3, 4, 5]})
    ifcopenshell.api.run("sequence.add_time_period", model, recurrence_pattern=pattern, start_time=dt.time(8),
                         end_time=dt.time(17))
    return calendar


def _finish(task: ifcopenshell.entity_instance) -> dt.date:
    return dt.datetime.fromisoformat(task.TaskTime.ScheduleFinish).date()


def task_days(products: int, trade: str) -> int:
    """Working days a crew needs for ``trade`` installing ``products`` elements on one storey."""
    return _BASE_DAYS[trade] + math.ceil(_PER_ELEMENT[trade] * products)


def write_schedule(model: ifcopenshell.file, storeys: int, by_task: dict[tuple[int, str], list],
                   start: dt.date, new_guid) -> int:
    """Add the work plan, calendar and schedule; returns the number of tasks (summaries included).

    by_task: (storey index, trade) -> the products that task installs.
    Leaf tasks get ScheduleStart and a working-day ScheduleDuration; the api derives ScheduleFinish
    from the Mon-Fri calendar (start 09:00, finish 17:00, as ``sequence.edit_task_time`` writes them).
    """
    plan = ifcopenshell.api.run("sequence.add_work_plan", model, name="Construction programme")
    schedule = ifcopenshell.api.run("sequence.add_work_schedule", model, name="Baseline", predefined_type="PLANNED",
                                    work_plan=plan)
    # The api stamps "now"; the programme's own dates keep a seed's file reproducible.
    for control in (plan, schedule):
        control.CreationDate = control.StartTime = dt.datetime.combine(start, dt.time(8)).isoformat()
    calendar = _add_calendar(model)
    root = ifcopenshell.api.run("sequence.add_task", model, work_schedule=schedule, name="Construction",
                                identification="1")
    ifcopenshell.api.run("control.assign_control", model, relating_control=calendar, related_objects=[root])
    tasks: dict[tuple[int, str], ifcopenshell.entity_instance] = {}
    summaries = []
    for s in range(storeys):
        summary = ifcopenshell.api.run("sequence.add_task", model, parent_task=root, name=f"Level {s}",
                                       identification=f"1.{s + 1}")
        for k, trade in enumerate(TRADES):
            products = by_task.get((s, trade), [])
            before = tasks.get((s - 1, TRADES[0])) if k == 0 else tasks[(s, TRADES[k - 1])]
            task_start = next_working_day(_finish(before)) if before else add_working_days(start, 0)
            task = ifcopenshell.api.run("sequence.add_task", model, parent_task=summary, name=f"{trade} L{s}",
                                        identification=f"1.{s + 1}.{k + 1}", predefined_type="CONSTRUCTION")
            task.ObjectType = trade
            task_time = ifcopenshell.api.run("sequence.add_task_time", model, task=task)
            ifcopenshell.api.run("sequence.edit_task_time", model, task_time=task_time, attributes={
                "ScheduleStart": dt.datetime.combine(task_start, dt.time(8)),
                "ScheduleDuration": f"P{task_days(len(products), trade)}D",
                "DurationType": "WORKTIME",
            })
            if products:
                # One relationship per task with all its products: assign_process one by one is slow at scale.
                model.createIfcRelAssignsToProcess(new_guid(), None, f"{trade} L{s}", None, products, None,
                                                   task, None)
            tasks[(s, trade)] = task
        summaries.append((summary, [tasks[(s, trade)] for trade in TRADES]))
    for s in range(storeys):
        for k in range(1, len(TRADES)):
            ifcopenshell.api.run("sequence.assign_sequence", model, relating_process=tasks[(s, TRADES[k - 1])],
                                 related_process=tasks[(s, TRADES[k])], sequence_type="FINISH_START")
        if s:
            ifcopenshell.api.run("sequence.assign_sequence", model, relating_process=tasks[(s - 1, TRADES[0])],
                                 related_process=tasks[(s, TRADES[0])], sequence_type="FINISH_START")
    all_leaves = [leaf for _, leaves in summaries for leaf in leaves]
    for task, leaves in [*summaries, (root, all_leaves)]:
        first = min(dt.datetime.fromisoformat(t.TaskTime.ScheduleStart) for t in leaves)
        last = max(dt.datetime.fromisoformat(t.TaskTime.ScheduleFinish) for t in leaves)
        task_time = ifcopenshell.api.run("sequence.add_task_time", model, task=task)
        ifcopenshell.api.run("sequence.edit_task_time", model, task_time=task_time, attributes={
            "ScheduleStart": first, "ScheduleFinish": last, "DurationType": "WORKTIME"})
    return 1 + len(summaries) + len(all_leaves)
