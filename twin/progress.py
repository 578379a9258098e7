"""Progress arithmetic: percent complete, planned percent, slip, forecast, roll-ups, the S-curve.

Pure functions over plain data. Units: shares in [0, 1] (the CLI shows percent), dates are
calendar dates, slip and durations are in calendar days. A task runs from the start of its
planned start day to the end of its planned finish day.

* **Percent complete** of a set of elements: the mean of each element's stage weight
  (:meth:`twin.taxonomy.TrackedClass.weight`; an untracked element counts 1 once built),
  weighted by a quantity (area, volume, length) when given, else by count.
* **Planned percent** of a task on a date: linear over its planned window, end of day.
* **Slip** by earned schedule: the date at which the planned curve reaches today's actual
  percent, against today. Positive: behind (days late); negative: ahead; 0 when on plan.
* **Forecast finish**: from the production rate over the recent window of the progress history;
  never before the last observation; None while nothing is being produced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from twin import taxonomy

ElementStages = Mapping[str, tuple[str | None, int]]  # GlobalId -> (tracked class, stage)
#: A forecast further out than this (about 30 years) means there is no real production rate.
MAX_FORECAST_DAYS = 10_000


def element_weight(tracked: str | None, stage: int) -> float:
    """Share of one element's work done at ``stage``."""
    if tracked is None:
        return 1.0 if stage >= 1 else 0.0
    return taxonomy.BY_NAME[tracked].weight(stage)


def percent_complete(elements: Iterable[str], stages: ElementStages,
                     quantities: Mapping[str, float] | None = None) -> float:
    """Weighted share of work done over ``elements`` (unknown elements count as not started)."""
    total = done = 0.0
    for gid in elements:
        weight = float(quantities.get(gid, 0.0)) if quantities else 1.0
        tracked, stage = stages.get(gid, (None, 0))
        total += weight
        done += weight * element_weight(tracked, stage)
    return done / total if total > 0 else 0.0


def planned_percent(start: dt.date, finish: dt.date, date: dt.date) -> float:
    """Share of a task's window elapsed by the end of ``date``."""
    days = (finish - start).days + 1
    elapsed = (date - start).days + 1
    return float(min(max(elapsed / days, 0.0), 1.0))


@dataclass(frozen=True)
class PlannedWork:
    """A task's planned window and weight (its element count or quantity) for roll-ups."""

    start: dt.date
    finish: dt.date
    weight: float = 1.0


def planned_curve(work: Sequence[PlannedWork], date: dt.date) -> float:
    """Weighted planned percent of several tasks on ``date``."""
    total = sum(w.weight for w in work)
    if total <= 0:
        return 0.0
    return sum(w.weight * planned_percent(w.start, w.finish, date) for w in work) / total


def earned_schedule_slip(work: Sequence[PlannedWork], actual: float, today: dt.date) -> float:
    """Slip in days (positive: behind) by earned schedule, to a hundredth of a day.

    Time is measured in days from the end of ``today``; the planned curve is piecewise linear
    between its tasks' window edges, so it is inverted exactly on those segments.
    """
    if not work:
        return 0.0
    now = _curve_at(work, today, 0.0)
    if abs(actual - now) < 1e-9:
        return 0.0
    edges = sorted({(w.start - today).days - 1.0 for w in work} | {float((w.finish - today).days) for w in work}
                   | {0.0})
    values = [_curve_at(work, today, t) for t in edges]
    if actual < now:  # behind: the earliest time the plan reached the actual share
        for (t0, v0), (t1, v1) in zip(zip(edges, values), zip(edges[1:], values[1:])):
            if v1 >= actual - 1e-12 and v1 > v0:
                t = t0 + (t1 - t0) * max(actual - v0, 0.0) / (v1 - v0) if v0 < actual else t0
                return round(-t, 2)
        return round(-edges[0], 2)
    # ahead: the latest time the plan had not yet passed the actual share
    for (t0, v0), (t1, v1) in zip(zip(edges[::-1][1:], values[::-1][1:]), zip(edges[::-1], values[::-1])):
        if v0 <= actual + 1e-12 and v1 > v0:
            t = t0 + (t1 - t0) * min(actual - v0, v1 - v0) / (v1 - v0)
            return round(-t, 2)
    return round(-edges[-1], 2)


def _curve_at(work: Sequence[PlannedWork], today: dt.date, offset_days: float) -> float:
    """Planned share at ``offset_days`` after the end of ``today`` (linear through each day)."""
    total = sum(w.weight for w in work)
    share = 0.0
    for w in work:
        start = (w.start - today).days - 1.0  # end of the day before the start
        finish = (w.finish - today).days
        share += w.weight * float(np.clip((offset_days - start) / (finish - start), 0.0, 1.0))
    return share / total if total > 0 else 0.0


def forecast_finish(history: Sequence[tuple[dt.date, float]], window_days: int = 21) -> dt.date | None:
    """Date the work reaches 100 % at the recent production rate.

    history: (observation date, percent complete) in any order. None when there is no progress in
    the window. Never earlier than the last observation.
    """
    if not history:
        return None
    ordered = sorted(history)
    last_date, last_pct = ordered[-1]
    if last_pct >= 1.0 - 1e-9:
        return last_date  # done: finished by the last observation
    window_start = last_date - dt.timedelta(days=window_days)
    earlier = [(d, p) for d, p in ordered if d >= window_start and d < last_date] or \
        [(d, p) for d, p in ordered if d < last_date][-1:]
    if not earlier:
        return None
    first_date, first_pct = earlier[0]
    days = (last_date - first_date).days
    rate = (last_pct - first_pct) / days if days > 0 else 0.0
    if rate <= 0:
        return None
    remaining = (1.0 - last_pct) / rate
    if remaining > MAX_FORECAST_DAYS:
        return None  # no meaningful production rate
    return last_date + dt.timedelta(days=int(np.ceil(remaining)))


@dataclass(frozen=True)
class TaskProgress:
    """A task's numbers on a date. Shares in [0, 1]; slip in days (positive: behind)."""

    task: str
    planned: float
    actual: float
    slip_days: float
    forecast_finish: dt.date | None
    status: str
    elements: int


def task_status(planned: float, actual: float, slip_days: float) -> str:
    if actual >= 1.0 - 1e-9:
        return "complete"
    if actual <= 0.0 and planned <= 0.0:
        return "not started"
    if slip_days >= 1.0:
        return "behind"
    if slip_days <= -1.0:
        return "ahead"
    return "on track"


def task_progress(task_id: str, start: dt.date, finish: dt.date, elements: Sequence[str], stages: ElementStages,
                  today: dt.date, history: Sequence[tuple[dt.date, float]] = (),
                  quantities: Mapping[str, float] | None = None) -> TaskProgress:
    """All numbers of one task on ``today``. ``history``: earlier (date, percent complete)."""
    actual = percent_complete(elements, stages, quantities)
    planned = planned_percent(start, finish, today)
    slip = 0.0 if actual >= 1.0 - 1e-9 else earned_schedule_slip([PlannedWork(start, finish)], actual, today)
    forecast = forecast_finish([*history, (today, actual)])
    return TaskProgress(task_id, planned, actual, slip, forecast, task_status(planned, actual, slip), len(elements))


def rollup(tasks: Sequence[tuple[PlannedWork, Sequence[str]]], stages: ElementStages, today: dt.date,
           quantities: Mapping[str, float] | None = None) -> tuple[float, float, float]:
    """(planned, actual, slip days) of a group of tasks (a storey, a trade, the project), each task
    weighted by its elements."""
    weighted = [PlannedWork(w.start, w.finish, float(len(e)) or 1.0) for w, e in tasks]
    all_elements = [g for _, e in tasks for g in e]
    actual = percent_complete(all_elements, stages, quantities)
    planned = planned_curve(weighted, today)
    return planned, actual, earned_schedule_slip(weighted, actual, today)


def s_curve(tasks: Sequence[tuple[PlannedWork, Sequence[str]]],
            snapshots: Sequence[tuple[dt.date, ElementStages]]) -> list[tuple[dt.date, float, float]]:
    """(date, planned, actual) at each snapshot of element stages, in date order."""
    weighted = [PlannedWork(w.start, w.finish, float(len(e)) or 1.0) for w, e in tasks]
    all_elements = [g for _, e in tasks for g in e]
    return [(date, planned_curve(weighted, date), percent_complete(all_elements, stages))
            for date, stages in sorted(snapshots, key=lambda s: s[0])]
