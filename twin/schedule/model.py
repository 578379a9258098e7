"""One task model for every schedule format (IFC 4D, MS Project, Primavera P6, CSV).

Dates are calendar dates (``datetime.date``): a task runs from the start of ``planned_start`` to
the end of ``planned_finish``. Lags are in calendar days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import NamedTuple

RELATIONS = ("FS", "SS", "FF", "SF")
WEIGHT_BASES = ("count", "area", "volume", "length")


class Predecessor(NamedTuple):
    """A dependency on task ``task``: relation FS/SS/FF/SF and a lag in days (may be negative).

    A plain ``(task id, relation, lag days)`` tuple with names."""

    task: str
    relation: str = "FS"
    lag_days: float = 0.0


@dataclass(frozen=True)
class Task:
    """A task. ``elements`` are the GlobalIds it installs; ``selectors`` ifcopenshell selector
    queries still to be resolved against a model (see :mod:`twin.schedule.links`).

    ``locations``: GlobalIds of spatial elements (storey, space) the task is assigned to, as IFC 4D
    files do for summary tasks; they are where the work is, not elements it installs.
    ``duration_days``: the planned duration in working days, when the file gives one.
    """

    id: str
    name: str
    planned_start: dt.date | None
    planned_finish: dt.date | None
    parent: str | None = None
    actual_start: dt.date | None = None
    actual_finish: dt.date | None = None
    trade: str | None = None
    predecessors: tuple[Predecessor, ...] = ()
    elements: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    weight_basis: str = "count"
    duration_days: float | None = None
    locations: tuple[str, ...] = ()

    def with_(self, **changes) -> Task:
        return replace(self, **changes)


@dataclass
class Schedule:
    """A schedule as read from one file. ``data_date``: the status date the file reports, if any."""

    name: str
    source_format: str
    tasks: list[Task] = field(default_factory=list)
    data_date: dt.date | None = None

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    def children(self) -> dict[str | None, list[Task]]:
        out: dict[str | None, list[Task]] = {}
        for task in self.tasks:
            out.setdefault(task.parent, []).append(task)
        return out


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a schedule: which task, which field, and what."""

    task: str | None
    field: str
    message: str

    def __str__(self) -> str:
        return f"task {self.task}: {self.field}: {self.message}" if self.task else f"{self.field}: {self.message}"


class ScheduleImportError(ValueError):
    """A schedule that cannot be imported as it is. ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[ImportProblem]):
        self.source = source
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s): {shown}{more}")
