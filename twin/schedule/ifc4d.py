"""IFC 4D schedules: IfcWorkSchedule → nested IfcTask with IfcTaskTime, IfcRelSequence, and the
elements each task installs (IfcRelAssignsToProcess *and* IfcRelAssignsToProduct).

Dates come from whatever the file has, in this order: ScheduleStart/Finish, EarlyStart/Finish,
ActualStart/Finish; a task with only a duration is placed after its predecessors (a forward pass,
as a scheduler would) or at its parent's start; summary tasks span their children.
"""

from __future__ import annotations

import datetime as dt

import ifcopenshell
import ifcopenshell.util.date as ifc_date
import ifcopenshell.util.sequence as ifc_sequence

from twin.schedule.model import Predecessor, Schedule, Task

_RELATION = {"FINISH_START": "FS", "START_START": "SS", "FINISH_FINISH": "FF", "START_FINISH": "SF"}


def _date(value) -> dt.date | None:
    if not value:
        return None
    parsed = ifc_date.ifc2datetime(value)
    return parsed.date() if isinstance(parsed, dt.datetime) else parsed


def _days(duration) -> float | None:
    if not duration:
        return None
    value = ifc_date.ifc2datetime(duration)
    return value.total_seconds() / 86400.0 if isinstance(value, dt.timedelta) else None


def _lag_days(sequence) -> float:
    lag = getattr(sequence, "TimeLag", None)
    if lag is None or lag.LagValue is None:
        return 0.0
    value = lag.LagValue.wrappedValue if hasattr(lag.LagValue, "wrappedValue") else lag.LagValue
    if isinstance(value, str):
        return _days(value) or 0.0
    return float(value)


def _elements(task) -> tuple[str, ...]:
    products = [p for rel in task.OperatesOn for p in rel.RelatedObjects]
    products += [rel.RelatingProduct for rel in task.HasAssignments if rel.is_a("IfcRelAssignsToProduct")]
    return tuple(sorted({p.GlobalId for p in products if p.is_a("IfcElement")}))


def read_ifc_schedule(model: ifcopenshell.file, work_schedule=None) -> Schedule:
    """The (first, or given) work schedule of ``model`` as a :class:`Schedule`.

    A model without an IfcWorkSchedule but with IfcTasks reads them all.
    """
    schedules = model.by_type("IfcWorkSchedule")
    work_schedule = work_schedule or (schedules[0] if schedules else None)
    if work_schedule is not None:
        roots = ifc_sequence.get_root_tasks(work_schedule)
        entities = [t for root in roots for t in [root, *ifc_sequence.get_all_nested_tasks(root)]]
    else:
        entities = list(model.by_type("IfcTask"))
    tasks: dict[str, Task] = {}
    for task in entities:
        parent = ifc_sequence.get_parent_task(task)
        time = task.TaskTime
        start = finish = duration = None
        actual_start = actual_finish = None
        if time is not None:
            start = _date(time.ScheduleStart) or _date(time.EarlyStart)
            finish = _date(time.ScheduleFinish) or _date(time.EarlyFinish)
            actual_start, actual_finish = _date(time.ActualStart), _date(time.ActualFinish)
            start = start or actual_start
            finish = finish or actual_finish
            duration = _days(time.ScheduleDuration)
        predecessors = tuple(
            Predecessor(rel.RelatingProcess.GlobalId, _RELATION.get(rel.SequenceType or "FINISH_START", "FS"),
                        _lag_days(rel))
            for rel in task.IsSuccessorFrom if rel.RelatingProcess.is_a("IfcTask")
        )
        tasks[task.GlobalId] = Task(
            id=task.GlobalId, name=task.Name or task.Identification or task.GlobalId,
            planned_start=start, planned_finish=finish, parent=parent.GlobalId if parent else None,
            actual_start=actual_start, actual_finish=actual_finish,
            trade=task.ObjectType or getattr(task, "PredefinedType", None),
            predecessors=predecessors, elements=_elements(task), duration_days=duration,
        )
    ordered = derive_dates(list(tasks.values()))
    name = (work_schedule.Name if work_schedule is not None else None) or "IFC schedule"
    return Schedule(name=name, source_format="ifc", tasks=ordered)


def derive_dates(tasks: list[Task]) -> list[Task]:
    """Fill missing dates: forward pass over FS predecessors for tasks with a duration, then
    summary tasks span their children. Tasks keep the dates they had."""
    by_id = {t.id: t for t in tasks}
    for _ in range(len(tasks) + 1):
        changed = False
        for task in list(by_id.values()):
            if task.planned_start and task.planned_finish:
                continue
            start = task.planned_start
            if start is None:
                ends = [by_id[p.task].planned_finish for p in task.predecessors
                        if p.task in by_id and by_id[p.task].planned_finish]
                if task.predecessors and len(ends) == len(task.predecessors):
                    start = max(ends) + dt.timedelta(days=1)
                elif not task.predecessors and task.parent in by_id and by_id[task.parent].planned_start:
                    start = by_id[task.parent].planned_start
            finish = task.planned_finish
            if start and finish is None and task.duration_days is not None:
                finish = start + dt.timedelta(days=max(round(task.duration_days) - 1, 0))
            if (start, finish) != (task.planned_start, task.planned_finish):
                by_id[task.id] = task.with_(planned_start=start, planned_finish=finish)
                changed = True
        # Summaries span their children.
        for task in list(by_id.values()):
            kids = [k for k in by_id.values() if k.parent == task.id]
            starts = [k.planned_start for k in kids if k.planned_start]
            finishes = [k.planned_finish for k in kids if k.planned_finish]
            if kids and starts and finishes and len(starts) == len(kids) and len(finishes) == len(kids):
                span = (min(starts), max(finishes))
                if (task.planned_start, task.planned_finish) != span:
                    by_id[task.id] = task.with_(planned_start=span[0], planned_finish=span[1])
                    changed = True
        if not changed:
            break
    return [by_id[t.id] for t in tasks]
