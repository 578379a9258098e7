"""Check a schedule before it is stored: every problem named, nothing imported unless asked.

Problems: duplicate task ids, an unknown parent or predecessor, a cycle in the predecessors (named
as its chain of tasks), a finish before its start, a missing date, and links to GlobalIds that are
not in the model. ``check(..., lenient=True)`` drops what is unsound and keeps the rest.
"""

from __future__ import annotations

from twin.schedule.model import ImportProblem, Schedule, ScheduleImportError


def _cycles(schedule: Schedule) -> list[list[str]]:
    graph = {t.id: [p.task for p in t.predecessors] for t in schedule.tasks}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif child in graph:
                if state.get(child) == 1:
                    cycles.append(path[path.index(child):] + [child])
                elif not state.get(child):
                    state[child] = 1
                    stack.append((child, iter(graph[child])))
                    path.append(child)
    return cycles


def validate(schedule: Schedule, known_globalids: set[str] | frozenset[str]) -> list[ImportProblem]:
    """Every problem of ``schedule`` against the model's GlobalIds."""
    problems: list[ImportProblem] = []
    ids = [t.id for t in schedule.tasks]
    seen: set[str] = set()
    for task_id in ids:
        if task_id in seen:
            problems.append(ImportProblem(task_id, "id", "duplicate task id"))
        seen.add(task_id)
    for task in schedule.tasks:
        if task.parent and task.parent not in seen:
            problems.append(ImportProblem(task.id, "parent", f"unknown parent {task.parent!r}"))
        for predecessor in task.predecessors:
            if predecessor.task not in seen:
                problems.append(ImportProblem(task.id, "predecessors", f"unknown predecessor {predecessor.task!r}"))
        if task.planned_start is None or task.planned_finish is None:
            problems.append(ImportProblem(task.id, "planned dates", "no planned start or finish"))
        elif task.planned_finish < task.planned_start:
            problems.append(ImportProblem(task.id, "planned_finish",
                                          f"finish {task.planned_finish} before start {task.planned_start}"))
        if task.actual_start and task.actual_finish and task.actual_finish < task.actual_start:
            problems.append(ImportProblem(task.id, "actual_finish",
                                          f"actual finish {task.actual_finish} before actual start {task.actual_start}"))
        for gid in task.elements:
            if gid not in known_globalids:
                problems.append(ImportProblem(task.id, "elements", f"unknown GlobalId {gid}"))
    for cycle in _cycles(schedule):
        problems.append(ImportProblem(cycle[0], "predecessors", "cycle " + " → ".join(cycle)))
    return problems


def check(schedule: Schedule, known_globalids: set[str] | frozenset[str], lenient: bool = False,
          source: str = "schedule") -> tuple[Schedule, list[ImportProblem]]:
    """Strict: raise :class:`ScheduleImportError` naming every problem; nothing is returned.
    Lenient: drop links to unknown GlobalIds, unknown predecessors and parents (the task becomes a
    root), tasks with missing or reversed dates, every task of a cycle, and the later tasks of a
    duplicated id; return what is sound and the list of problems (refused when nothing is)."""
    problems = validate(schedule, known_globalids)
    if not problems:
        return schedule, []
    if not lenient:
        raise ScheduleImportError(source, problems)
    unsound = {p.task for p in problems if p.field in ("planned dates", "planned_finish", "actual_finish")}
    unsound |= {task for cycle in _cycles(schedule) for task in cycle}
    kept, seen = [], set()
    for task in schedule.tasks:  # a duplicated id keeps its first task
        if task.id not in unsound and task.id not in seen:
            kept.append(task)
        seen.add(task.id)
    ids = {t.id for t in kept}
    if not kept:  # an empty schedule must not become the current one
        raise ScheduleImportError(source, [*problems, ImportProblem(None, "tasks", "no sound task left")])
    kept = [t.with_(elements=tuple(g for g in t.elements if g in known_globalids),
                    predecessors=tuple(p for p in t.predecessors if p.task in ids),
                    parent=t.parent if t.parent in ids else None) for t in kept]
    return type(schedule)(schedule.name, schedule.source_format, kept, schedule.data_date), problems
