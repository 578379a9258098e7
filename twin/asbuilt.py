"""The as-built state of a building at a date, from its schedule: each element's true stage.

Used by the capture simulator (ground truth) and by ``sitetwin evaluate``. An element linked to a
task is installed at a moment drawn uniformly inside the task's window, shifted by the task's
slip (seeded, days, normal with ``slip_sigma_days``, never early by more than its float); classes
with several stages reach each next stage at the finish of the storey's later trade task when the
schedule has one (boarding, ceilings, finishes), else ``stage_gap_days`` later.

:func:`as_built` is the history a timeline benchmark needs: tasks late and early, a few elements
built out of order, a few removed again (rework) and maybe put back, as an :class:`AsBuilt`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin import taxonomy
from twin.generate.schedule import add_working_days, next_working_day
from twin.model import Twin


@dataclass(frozen=True)
class PlannedTask:
    """A task as the as-built model needs it: its window, trade, storey and elements (GlobalIds)."""

    key: str
    start: dt.date
    finish: dt.date
    elements: tuple[str, ...]
    trade: str | None = None
    storey: str | None = None


#: Later-stage trades, per tracked class: stage k+1 is reached when the k-th of these finishes.
STAGE_TRADES = {"wall": ("boarding", "finishes and fixtures"), "ceiling": ("finishes and fixtures",)}


def _days(date: dt.date, epoch: dt.date) -> float:
    return float((date - epoch).days)


def stage_timeline(global_ids: Sequence[str], classes: Sequence[str | None], storeys: Sequence[str | None],
                   tasks: Sequence[PlannedTask], seed: int = 0, slip_sigma_days: float = 3.0,
                   stage_gap_days: float = 7.0,
                   slips: dict[str, float] | None = None) -> tuple[np.ndarray, dt.date]:
    """(N, S) float days since the returned epoch at which each element reaches stage 1..S (inf: never).

    S is the most stages any class has; columns beyond an element's last stage are inf. slips:
    task key → slip in days (positive: late), instead of the seeded normal ones.
    """
    rng = np.random.default_rng(seed)
    epoch = min((t.start for t in tasks), default=dt.date.today())
    n_stages = max(c.final_stage for c in taxonomy.CLASSES)
    timeline = np.full((len(global_ids), n_stages), np.inf)
    row_of = {gid: i for i, gid in enumerate(global_ids)}
    if slips is None:
        slips = {t.key: rng.normal(0.0, slip_sigma_days) if slip_sigma_days else 0.0 for t in tasks}
    else:
        slips = {t.key: float(slips.get(t.key, 0.0)) for t in tasks}
    trade_finish = {(t.storey, t.trade): _days(t.finish, epoch) + max(slips[t.key], 0.0) for t in tasks}
    for task in sorted(tasks, key=lambda t: t.key):
        rows = np.array([row_of[g] for g in task.elements if g in row_of], dtype=np.int64)
        if not len(rows):
            continue
        start, finish = _days(task.start, epoch), _days(task.finish, epoch) + 1.0
        installed = start + rng.uniform(0.0, 1.0, len(rows)) * (finish - start) + slips[task.key]
        timeline[rows, 0] = np.minimum(timeline[rows, 0], installed)
    for row, (cls, storey) in enumerate(zip(classes, storeys, strict=True)):
        if cls is None or not np.isfinite(timeline[row, 0]):
            continue
        tracked = taxonomy.BY_NAME[cls]
        for k in range(1, tracked.final_stage):
            later = STAGE_TRADES.get(cls, ())
            planned = trade_finish.get((storey, later[k - 1])) if k - 1 < len(later) else None
            previous = timeline[row, k - 1]
            timeline[row, k] = max(previous + 1.0, planned) if planned is not None else previous + stage_gap_days
    return timeline, epoch


def stages_at(timeline: np.ndarray, epoch: dt.date, date: dt.date,
              removals: Removals | None = None) -> np.ndarray:
    """(N,) int8 stage of every element on ``date`` (end of day); 0 while a removal holds it out."""
    day = _days(date, epoch) + 1.0
    stages = (timeline <= day).sum(axis=1).astype(np.int8)
    if removals is not None and len(removals.rows):
        out = (removals.removed <= day) & (day < removals.reinstalled)
        stages[removals.rows[out]] = 0
    return stages


@dataclass(frozen=True)
class Removals:
    """Rework: element ``rows[k]`` is taken out at ``removed[k]`` and put back at ``reinstalled[k]``
    (days since the epoch; inf: not put back). Its stages are 0 in between; after reinstallation
    it is at whatever stage its reach times give."""

    rows: np.ndarray
    removed: np.ndarray
    reinstalled: np.ndarray


@dataclass(frozen=True)
class AsBuilt:
    """The true state of a building through time.

    reach: (N, S) days since ``epoch`` at which each element reaches stage 1..S (inf: never);
    removals: the rework windows; slips: task key → days late (negative: early); out_of_order:
    rows installed well before or after their task's window."""

    epoch: dt.date
    reach: np.ndarray
    removals: Removals
    slips: dict[str, float]
    out_of_order: np.ndarray

    def stages_at(self, date: dt.date) -> np.ndarray:
        """(N,) int8 true stage of every element at the end of ``date``."""
        return stages_at(self.reach, self.epoch, date, self.removals)

    def date_of(self, days: float) -> dt.date:
        """The date of a reach time (days since the epoch; the day it falls in)."""
        return self.epoch + dt.timedelta(days=int(np.floor(days)))


#: Classes that may be built out of order or taken out again: finishing and services work, not the
#: structure a walk stands on (a floor slab that vanishes leaves nothing to walk).
REWORK_CLASSES = frozenset({"wall", "door", "window", "pipe", "duct", "cable_tray", "light_fixture", "outlet",
                            "ceiling", "railing", "equipment"})


def as_built(global_ids: Sequence[str], classes: Sequence[str | None], storeys: Sequence[str | None],
             tasks: Sequence[PlannedTask], seed: int = 0, slip_sigma_days: float = 2.0,
             late_share: float = 0.2, late_days: tuple[float, float] = (5.0, 15.0),
             early_share: float = 0.15, early_days: tuple[float, float] = (2.0, 6.0),
             out_of_order_share: float = 0.02, out_of_order_days: tuple[float, float] = (14.0, 35.0),
             rework_share: float = 0.02, rework_after_days: tuple[float, float] = (5.0, 25.0),
             reinstall_share: float = 0.5, reinstall_after_days: tuple[float, float] = (5.0, 20.0),
             stage_gap_days: float = 7.0) -> AsBuilt:
    """A seeded as-built history along ``tasks`` (days throughout).

    Each task slips: ``late_share`` of them late by a uniform draw from ``late_days``,
    ``early_share`` early by one from ``early_days``, the rest by a normal draw of σ
    ``slip_sigma_days``. Of the elements of :data:`REWORK_CLASSES` that get built,
    ``out_of_order_share`` are installed ``out_of_order_days`` before or after their task (never
    before the programme starts), and ``rework_share`` are removed ``rework_after_days`` after
    installation, ``reinstall_share`` of those put back ``reinstall_after_days`` later.
    """
    rng = np.random.default_rng([seed, 23])
    draw = rng.uniform(size=len(tasks))
    slips = {}
    for task, u in zip(sorted(tasks, key=lambda t: t.key), draw, strict=True):
        if u < late_share:
            slips[task.key] = float(rng.uniform(*late_days))
        elif u < late_share + early_share:
            slips[task.key] = -float(rng.uniform(*early_days))
        else:
            slips[task.key] = float(rng.normal(0.0, slip_sigma_days)) if slip_sigma_days else 0.0
    reach, epoch = stage_timeline(global_ids, classes, storeys, tasks, seed=seed,
                                  stage_gap_days=stage_gap_days, slips=slips)
    reach = reach.copy()
    eligible = np.array([c in REWORK_CLASSES for c in classes], dtype=bool) & np.isfinite(reach[:, 0])
    candidates = np.flatnonzero(eligible)
    moved = np.sort(rng.choice(candidates, size=int(round(out_of_order_share * len(candidates))),
                               replace=False))
    if len(moved):
        shift = rng.uniform(*out_of_order_days, len(moved)) * rng.choice([-1.0, 1.0], len(moved))
        shift = np.maximum(shift, -reach[moved, 0])  # never before the programme starts
        reach[moved] += shift[:, None]
    rest = np.setdiff1d(candidates, moved)
    rows = np.sort(rng.choice(rest, size=int(round(rework_share * len(candidates))), replace=False))
    removed = reach[rows, 0] + rng.uniform(*rework_after_days, len(rows))
    back = rng.uniform(size=len(rows)) < reinstall_share
    reinstalled = np.where(back, removed + rng.uniform(*reinstall_after_days, len(rows)), np.inf)
    return AsBuilt(epoch, reach, Removals(rows.astype(np.int64), removed, reinstalled), slips,
                   moved.astype(np.int64))


def tasks_from_ifc(model, storey_of: dict[str, str | None] | None = None) -> list[PlannedTask]:
    """Leaf tasks of the model's 4D schedule that have dates, with the elements they install.

    Read by :func:`twin.schedule.ifc4d.read_ifc_schedule` (IfcRelAssignsToProcess and
    IfcRelAssignsToProduct links, dates from whatever the file has). storey_of (GlobalId → storey
    GlobalId) gives each task the storey most of its elements are on; a task without elements
    (boarding) takes its siblings' storey.
    """
    from twin.schedule.ifc4d import read_ifc_schedule

    storey_of = storey_of or {}
    tasks = read_ifc_schedule(model).tasks
    parents = {t.parent for t in tasks if t.parent}
    leaves = [t for t in tasks if t.id not in parents and t.planned_start and t.planned_finish]

    def majority(values):
        values = [v for v in values if v]
        return max(set(values), key=values.count) if values else None

    own = {t.id: majority(storey_of.get(g) for g in t.elements) for t in leaves}
    planned = []
    for task in leaves:
        storey = own[task.id] or majority(own.get(s.id) for s in leaves if s.parent == task.parent and task.parent)
        planned.append(PlannedTask(task.id, task.planned_start, task.planned_finish, task.elements, task.trade,
                                   storey))
    return planned


#: Trade groups of a derived schedule, in site order, by tracked class (None: untracked elements,
#: built with the structure so that they are there to occlude).
DERIVED_TRADES = (
    ("structure", {"slab", "column", "beam", "stair", "railing", None}),
    ("envelope", {"window"}),
    ("partitions", {"wall"}),
    ("MEP rough-in", {"pipe", "duct", "cable_tray", "equipment"}),
    ("ceilings", {"ceiling"}),
    ("finishes and fixtures", {"door", "light_fixture", "outlet"}),
)


def derive_schedule(twin: Twin, start: dt.date, days_per_task: int = 5) -> list[PlannedTask]:
    """A trade-order schedule for a model without one: per storey (lowest first) one task per trade."""
    tasks = []
    day = start
    storey_ids = [s.global_id for s in twin.storeys] + [None]
    for storey in storey_ids:
        for trade, classes in DERIVED_TRADES:
            elements = tuple(e.global_id for e in twin.elements
                             if e.physical and e.storey == storey and e.tracked_class in classes)
            if not elements:
                continue
            finish = add_working_days(day, days_per_task - 1)
            tasks.append(PlannedTask(f"{storey}-{trade}", day, finish, elements, trade, storey))
            day = next_working_day(finish)
    return tasks
