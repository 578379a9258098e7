"""IFC 4D schedules: IfcWorkSchedule → nested IfcTask with IfcTaskTime, IfcRelSequence, and the
products each task works on (IfcRelAssignsToProcess *and* IfcRelAssignsToProduct).

Dates come from whatever the file has, in this order: ScheduleStart/Finish, EarlyStart/Finish,
ActualStart/Finish. A task with only a ScheduleDuration is placed by a forward pass over its
predecessors (FS/SS/FF/SF with their lags), as a scheduler would, on the task's IfcWorkCalendar
(its own or its nearest ancestor's; every day when there is none) or at its parent's start;
summary tasks span their children.

Durations: an ELAPSEDTIME duration is calendar time; a WORKTIME one (the default) with hours in it
is work time, divided by the calendar's hours per working day (8 without a calendar), so
buildingSMART's ``P0Y0M1DT16H0M0S`` (40 h) on an 08:00–16:00 calendar is 5 working days; a
duration in whole days (``P5D``, as ``ifcopenshell.api.sequence`` writes) is that many working days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ifcopenshell
import ifcopenshell.util.date as ifc_date
import ifcopenshell.util.sequence as ifc_sequence

from twin.schedule.model import Predecessor, Schedule, Task

_RELATION = {"FINISH_START": "FS", "START_START": "SS", "FINISH_FINISH": "FF", "START_FINISH": "SF"}
#: Hours in a working day when no calendar says otherwise (MS Project's and P6's default too).
HOURS_PER_WORKING_DAY = 8.0
#: How far a forward pass searches for a working day before deciding the calendar has none.
_MAX_SEARCH_DAYS = 3660

WorkingDay = Callable[[str, dt.date], bool]  # (task id, date) -> is it a working day for that task


def _date(value) -> dt.date | None:
    if not value:
        return None
    parsed = ifc_date.ifc2datetime(value)
    return parsed.date() if isinstance(parsed, dt.datetime) else parsed


def _calendar(task):
    """The IfcWorkCalendar that applies to ``task``: its own, else its nearest ancestor's."""
    while task is not None:
        calendar = ifc_sequence.get_calendar(task)
        if calendar is not None:
            return calendar
        task = ifc_sequence.get_parent_task(task)
    return None


def _hours_per_day(calendar) -> float:
    """Working hours in one day of ``calendar`` (sum of its first working time's periods)."""
    for work_time in (calendar.WorkingTimes or ()) if calendar is not None else ():
        pattern = work_time.RecurrencePattern
        hours = 0.0
        for period in (pattern.TimePeriods or ()) if pattern is not None else ():
            start, end = ifc_date.ifc2datetime(period.StartTime), ifc_date.ifc2datetime(period.EndTime)
            hours += (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)
                      ).total_seconds() / 3600.0
        if hours > 0:
            return hours
    return HOURS_PER_WORKING_DAY


def duration_days(duration: str | None, duration_type: str | None, hours_per_day: float) -> float | None:
    """An IfcDuration in days: working days for WORKTIME (see the module doc), else calendar days."""
    if not duration:
        return None
    value = ifc_date.ifc2datetime(duration)
    days = float(getattr(value, "days", 0)) + 30.0 * float(getattr(value, "months", 0)) \
        + 360.0 * float(getattr(value, "years", 0))
    seconds = float(getattr(value, "seconds", 0)) + float(getattr(value, "microseconds", 0)) / 1e6
    if duration_type == "ELAPSEDTIME":
        return days + seconds / 86400.0
    if seconds:
        return (days * 24.0 + seconds / 3600.0) / hours_per_day
    return days


def _lag_days(sequence, hours_per_day: float, predecessor_days: float | None) -> float:
    """The sequence's lag in days; a ratio lag is a share of the predecessor's duration."""
    lag = sequence.TimeLag
    if lag is None or lag.LagValue is None:
        return 0.0
    value = lag.LagValue
    if value.is_a("IfcRatioMeasure"):
        return float(value.wrappedValue) * (predecessor_days or 0.0)
    raw = value.wrappedValue
    if isinstance(raw, str):
        return duration_days(raw, lag.DurationType, hours_per_day) or 0.0
    return float(raw)


def _products(task) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(elements, spatial locations) the task works on, by GlobalId: its inputs
    (IfcRelAssignsToProcess) and outputs (IfcRelAssignsToProduct)."""
    products = ifc_sequence.get_task_inputs(task) | ifc_sequence.get_task_outputs(task)
    elements = sorted({p.GlobalId for p in products if p.is_a("IfcElement")})
    locations = sorted({p.GlobalId for p in products if p.is_a("IfcSpatialElement")
                        or p.is_a("IfcSpatialStructureElement")})
    return tuple(elements), tuple(locations)


def _trade(task) -> str | None:
    """The task's trade: its ObjectType (authoring tools write the trade or work type there), else
    its PredefinedType (IfcTaskTypeEnum: CONSTRUCTION, INSTALLATION...) when that says something."""
    if task.ObjectType:
        return task.ObjectType
    predefined = getattr(task, "PredefinedType", None)
    return None if predefined in (None, "NOTDEFINED", "USERDEFINED") else predefined


def read_ifc_schedule(model: ifcopenshell.file, work_schedule=None) -> Schedule:
    """The (first, or given) work schedule of ``model`` as a :class:`Schedule`.

    A model without an IfcWorkSchedule but with IfcTasks reads them all.
    """
    schedules = model.by_type("IfcWorkSchedule")
    work_schedule = work_schedule or (schedules[0] if schedules else None)
    if work_schedule is not None:
        roots = ifc_sequence.get_root_tasks(work_schedule)
        entities = list(dict.fromkeys(t for root in roots for t in [root, *ifc_sequence.get_all_nested_tasks(root)]))
    else:
        entities = list(model.by_type("IfcTask"))
    calendars = {task.GlobalId: _calendar(task) for task in entities}
    elapsed: set[str] = set()
    durations: dict[str, float | None] = {}
    for task in entities:
        time = task.TaskTime
        if time is not None and time.DurationType == "ELAPSEDTIME":
            elapsed.add(task.GlobalId)
        durations[task.GlobalId] = duration_days(time.ScheduleDuration, time.DurationType,
                                                 _hours_per_day(calendars[task.GlobalId])) if time else None
    tasks: list[Task] = []
    for task in entities:
        parent = ifc_sequence.get_parent_task(task)
        time = task.TaskTime
        start = finish = actual_start = actual_finish = None
        if time is not None:
            actual_start, actual_finish = _date(time.ActualStart), _date(time.ActualFinish)
            start = _date(time.ScheduleStart) or _date(time.EarlyStart) or actual_start
            finish = _date(time.ScheduleFinish) or _date(time.EarlyFinish) or actual_finish
        hours = _hours_per_day(calendars[task.GlobalId])
        predecessors = tuple(
            Predecessor(rel.RelatingProcess.GlobalId, _RELATION.get(rel.SequenceType or "FINISH_START", "FS"),
                        _lag_days(rel, hours, durations.get(rel.RelatingProcess.GlobalId)))
            for rel in task.IsSuccessorFrom if rel.RelatingProcess.is_a("IfcTask")
        )
        elements, locations = _products(task)
        tasks.append(Task(
            id=task.GlobalId, name=task.Name or task.Identification or task.GlobalId,
            planned_start=start, planned_finish=finish, parent=parent.GlobalId if parent else None,
            actual_start=actual_start, actual_finish=actual_finish, trade=_trade(task),
            predecessors=predecessors, elements=elements, duration_days=durations[task.GlobalId],
            locations=locations,
        ))

    def working(task_id: str, day: dt.date) -> bool:
        calendar = calendars.get(task_id)
        if calendar is None or task_id in elapsed or not ifc_sequence.is_calendar_applicable(day, calendar):
            return True
        return ifc_sequence.is_working_day(day, calendar)

    name = (work_schedule.Name if work_schedule is not None else None) or "IFC schedule"
    data_date = _date(getattr(work_schedule, "CreationDate", None)) if work_schedule is not None else None
    return Schedule(name=name, source_format="ifc", tasks=derive_dates(tasks, working), data_date=data_date)


def _roll(task_id: str, day: dt.date, step: int, working: WorkingDay | None) -> dt.date:
    """The first working day from ``day`` on, going forward (step 1) or back (step -1)."""
    if working is None:
        return day
    for k in range(_MAX_SEARCH_DAYS):
        candidate = day + dt.timedelta(days=k * step)
        if working(task_id, candidate):
            return candidate
    return day  # a calendar without working days: count every day


def _shift(task_id: str, day: dt.date, days: float, working: WorkingDay | None) -> dt.date:
    """``day`` moved by ``days`` working days (rounded to whole days; negative goes back)."""
    count, step = abs(round(days)), (1 if days >= 0 else -1)
    for _ in range(count):
        day = _roll(task_id, day + dt.timedelta(days=step), step, working)
    return day


def _earliest_start(task: Task, by_id: dict[str, Task], working: WorkingDay | None) -> dt.date | None:
    """Earliest start allowed by every predecessor, or None while one of them has no dates."""
    span = max(round(task.duration_days or 0.0) - 1, 0)
    starts = []
    for link in task.predecessors:
        other = by_id.get(link.task)
        if other is None or other.planned_start is None or other.planned_finish is None:
            return None
        if link.relation == "SS":
            start = _roll(task.id, _shift(task.id, other.planned_start, link.lag_days, working), 1, working)
        elif link.relation in ("FF", "SF"):
            edge = other.planned_finish if link.relation == "FF" else other.planned_start
            finish = _roll(task.id, _shift(task.id, edge, link.lag_days, working), 1, working)
            start = _shift(task.id, finish, -span, working)
        else:  # FS: the working day after the predecessor's finish, plus the lag
            start = _shift(task.id, _roll(task.id, other.planned_finish + dt.timedelta(days=1), 1, working),
                           link.lag_days, working)
        starts.append(start)
    return max(starts) if starts else None


def derive_dates(tasks: list[Task], working: WorkingDay | None = None) -> list[Task]:
    """Fill missing planned dates, keeping the dates tasks have.

    A task with a duration (working days) and no start starts at the earliest date its
    predecessors allow (forward pass), or at its parent's start when it has none; its finish is
    ``duration - 1`` working days later (a 1-day task starts and finishes on the same day; a
    milestone of 0 days too). Then summary tasks span their children. ``working(task id, date)``
    says which days are working days for a task (None: every day).
    """
    by_id = {t.id: t for t in tasks}
    kids: dict[str, list[str]] = {}
    for task in tasks:
        if task.parent is not None:
            kids.setdefault(task.parent, []).append(task.id)
    for _ in range(len(tasks) + 1):
        changed = False
        for task in list(by_id.values()):
            if task.planned_start and task.planned_finish:
                continue
            start, finish = task.planned_start, task.planned_finish
            span = max(round(task.duration_days) - 1, 0) if task.duration_days is not None else None
            if start is None and finish is not None and span is not None:
                start = _shift(task.id, finish, -span, working)
            if start is None and task.predecessors:
                start = _earliest_start(task, by_id, working)
            elif start is None and task.parent in by_id and by_id[task.parent].planned_start:
                start = _roll(task.id, by_id[task.parent].planned_start, 1, working)
            if start is not None and finish is None and span is not None:
                finish = _shift(task.id, start, span, working)
            if (start, finish) != (task.planned_start, task.planned_finish):
                by_id[task.id] = task.with_(planned_start=start, planned_finish=finish)
                changed = True
        for parent_id, child_ids in kids.items():
            parent = by_id.get(parent_id)
            children = [by_id[c] for c in child_ids]
            if parent is None or any(c.planned_start is None or c.planned_finish is None for c in children):
                continue
            span_dates = (min(c.planned_start for c in children), max(c.planned_finish for c in children))
            if (parent.planned_start, parent.planned_finish) != span_dates:
                by_id[parent_id] = parent.with_(planned_start=span_dates[0], planned_finish=span_dates[1])
                changed = True
        if not changed:
            break
    return [by_id[t.id] for t in tasks]
