"""Progress arithmetic: percent complete, planned percent, slip, forecast, roll-ups, the S-curve.

Pure functions over plain data. Units: shares in [0, 1] (the CLI shows percent), dates are
calendar dates, slip and durations are in calendar days. A task runs from the start of its
planned start day to the end of its planned finish day.

* **Percent complete** of a set of elements: the mean of each element's stage weight
  (:meth:`twin.taxonomy.TrackedClass.weight`; an untracked element counts 1 once built),
  weighted by a quantity (area, volume, length) when given, else by count.
* **Planned percent** of a task on a date: linear over its planned window, end of day; in
  calendar days, or in working days (Monday to Friday, less holidays) with ``working_days=True``.
* **Slip** by earned schedule: the date at which the planned curve reaches today's actual
  percent, against today. Positive: behind (days late); negative: ahead; 0 when on plan.
  Always in calendar days, whichever curve.
* **Roll-ups** (storey, trade, project): the weighted mean over the group's tasks' elements.
* **Forecast finish**: from the production rate over the recent window of the progress history;
  never before the last observation; none while too little is done or produced to measure a rate
  (:func:`forecast` says why).
* **Unobserved elements** (no capture has seen them) are estimated, never taken as not done nor
  as late: an unseen element counts at its task's planned share scaled by how what was seen keeps
  to the plan. :func:`estimate_unseen` gives those shares; percent complete
  with it is an estimate of the truth, without it a lower bound (what has been seen installed).
  The *seen share* (:func:`seen_share`) says how much of a task is known; a task none of whose
  elements has been seen is "not observed", never "behind".
* **Assemblies** without geometry (an IfcStair whose flight and railing carry the shapes) count
  through their parts, once (:func:`expand_assemblies`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

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
                     quantities: Mapping[str, float] | None = None,
                     estimate: Mapping[str, float] | None = None) -> float:
    """Weighted share of work done over ``elements``. ``estimate``: GlobalId → estimated share done
    of the elements no capture has seen (:func:`estimate_unseen`); without one, an element without
    a stage counts as not started."""
    total = done = 0.0
    for gid in elements:
        weight = float(quantities.get(gid, 0.0)) if quantities else 1.0
        total += weight
        if estimate is not None and gid in estimate:
            done += weight * estimate[gid]
        else:
            tracked, stage = stages.get(gid, (None, 0))
            done += weight * element_weight(tracked, stage)
    return done / total if total > 0 else 0.0


def estimate_unseen(tasks: Sequence[tuple[PlannedWork, Sequence[str]]], stages: ElementStages,
                    seen: Collection[str], today: dt.date, quantities: Mapping[str, float] | None = None,
                    working_days: bool = False, holidays: Sequence[dt.date] = ()) -> dict[str, float]:
    """GlobalId → estimated share done on ``today``, in [0, 1], of every element of ``tasks`` that
    no capture has seen (an element in several tasks: its first), for :func:`percent_complete`'s
    ``estimate``: its task's planned share times the schedule performance of what was seen (the
    seen elements' share done over their tasks' planned share, weighted by the elements, as
    earned-value practice extrapolates): a site behind where it was seen is assumed as far behind
    where nobody looked; the plan itself before anything is seen.

    Not the seen elements' share of the same task: what was seen of a task is not a fair sample of
    it, since an installed element is seen wherever it is detected, while "absent" is only judged
    where nothing that may be built stands in front (:mod:`vision.register`)."""
    def weight(elements: Sequence[str]) -> float:
        return float(sum(quantities.get(g, 0.0) for g in elements)) if quantities else float(len(elements))

    estimate: dict[str, float] = {}
    unknown: list[tuple[float, Sequence[str]]] = []  # (planned share, unseen elements) per task
    earned = planned_seen = 0.0
    for work, elements in tasks:
        planned = planned_percent(work.start, work.finish, today, working_days, holidays)
        known = [gid for gid in elements if gid in seen]
        unseen = [gid for gid in elements if gid not in seen and gid not in estimate]
        if known and weight(known) > 0 and planned > 0:
            done = percent_complete(known, stages, quantities)
            earned += weight(known) * done
            planned_seen += weight(known) * planned
        if unseen:
            estimate.update(dict.fromkeys(unseen, planned))
            unknown.append((planned, unseen))
    performance = earned / planned_seen if planned_seen > 0 else 1.0
    for planned, unseen in unknown:
        estimate.update(dict.fromkeys(unseen, min(1.0, planned * performance)))
    return estimate


def seen_share(elements: Iterable[str], seen: Collection[str],
               quantities: Mapping[str, float] | None = None) -> float:
    """Weighted share of ``elements`` that some capture has seen (installed or absent), in [0, 1]
    (1 for no elements); weighted like :func:`percent_complete`."""
    total = known = 0.0
    for gid in elements:
        weight = float(quantities.get(gid, 0.0)) if quantities else 1.0
        total += weight
        known += weight if gid in seen else 0.0
    return known / total if total > 0 else 1.0


def expand_assemblies(elements: Iterable[str], parts: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """``elements`` with each assembly in ``parts`` (assembly GlobalId → its tracked parts'
    GlobalIds) replaced by its parts, each element once, in first-named order.

    A task naming a stair and its flight and railing counts the flight and the railing; one naming
    only the stair counts them too. An assembly without parts in ``parts`` stays as it is."""
    out: dict[str, None] = {}
    for gid in elements:
        for member in parts.get(gid) or (gid,):
            out[member] = None
    return tuple(out)


#: The working week when ``working_days=True``: Monday to Friday (numpy's busday weekmask).
WEEKMASK = "1111100"
_EPS = 1e-9  # shares closer than this are equal


def _working(day_ends: np.ndarray, start: dt.date, holidays: Sequence[dt.date]) -> np.ndarray:
    """Working days from ``start`` to the end of each day in ``day_ends`` (datetime64[D])."""
    begin = np.datetime64(start, "D")
    ends = np.maximum(day_ends + 1, begin)
    return np.busday_count(begin, ends, weekmask=WEEKMASK, holidays=list(holidays)).astype(float)


def _shares(start: dt.date, finish: dt.date, day_ends: np.ndarray, working_days: bool,
            holidays: Sequence[dt.date]) -> np.ndarray:
    """Planned share of one window at the end of each day in ``day_ends`` (datetime64[D])."""
    if working_days:
        total = _working(np.array([np.datetime64(finish, "D")]), start, holidays)[0]
        if total > 0:
            return np.clip(_working(day_ends, start, holidays) / total, 0.0, 1.0)
    days = (finish - start).days + 1
    elapsed = (day_ends - np.datetime64(start, "D")).astype(float) + 1.0
    return np.clip(elapsed / days, 0.0, 1.0) if days > 0 else (elapsed > 0).astype(float)


def planned_percent(start: dt.date, finish: dt.date, date: dt.date, working_days: bool = False,
                    holidays: Sequence[dt.date] = ()) -> float:
    """Share of a task's window elapsed by the end of ``date``, in [0, 1].

    Linear in calendar days, or in working days (Monday to Friday, less ``holidays``) when
    ``working_days``; a window without a working day falls back to calendar days."""
    return float(_shares(start, finish, np.array([np.datetime64(date, "D")]), working_days, holidays)[0])


@dataclass(frozen=True)
class PlannedWork:
    """A task's planned window (dates, inclusive) and weight (its element count or quantity)."""

    start: dt.date
    finish: dt.date
    weight: float = 1.0


def _curve(work: Sequence[PlannedWork], day_ends: np.ndarray, working_days: bool,
           holidays: Sequence[dt.date]) -> np.ndarray:
    weights = np.array([w.weight for w in work], dtype=float)
    total = weights.sum()
    if total <= 0:
        return np.zeros(len(day_ends))
    shares = np.stack([_shares(w.start, w.finish, day_ends, working_days, holidays) for w in work])
    return weights @ shares / total


def planned_curve(work: Sequence[PlannedWork], date: dt.date, working_days: bool = False,
                  holidays: Sequence[dt.date] = ()) -> float:
    """Weighted planned share of several tasks at the end of ``date``, in [0, 1]."""
    if not work:
        return 0.0
    return float(_curve(work, np.array([np.datetime64(date, "D")]), working_days, holidays)[0])


def earned_schedule_slip(work: Sequence[PlannedWork], actual: float, today: dt.date, working_days: bool = False,
                         holidays: Sequence[dt.date] = ()) -> float:
    """Slip in calendar days by earned schedule (positive: behind), to a hundredth of a day.

    The planned curve is piecewise linear between day ends (flat over non-working days when
    ``working_days``). The times at which it equals ``actual`` form an interval [a, b] (a single
    point where the plan moves, longer where it is flat); the slip is the distance from the end
    of ``today`` to the nearest of them: 0 when today is in it, ``-b`` when the plan passed the
    actual share b days ago, ``-a`` when it reaches it only a days from now.
    """
    if not work:
        return 0.0
    first = min(w.start for w in work) - dt.timedelta(days=1)
    last = max(max(w.finish for w in work), first + dt.timedelta(days=1))
    day_ends = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    times = (day_ends - np.datetime64(today, "D")).astype(float)  # days after the end of today
    values = _curve(work, day_ends, working_days, holidays)
    reached = np.nonzero(values >= actual - _EPS)[0]
    if len(reached) == 0:
        return round(-float(times[-1]), 2)  # beyond the plan: as early as the plan's end
    i = int(reached[0])
    a = -np.inf if i == 0 else times[i - 1] + (times[i] - times[i - 1]) * (actual - values[i - 1]) / (
        values[i] - values[i - 1])
    below = np.nonzero(values <= actual + _EPS)[0]
    if len(below) == 0:
        return round(-float(times[0]), 2)
    j = int(below[-1])
    b = np.inf if j == len(values) - 1 else times[j] + (times[j + 1] - times[j]) * max(actual - values[j], 0.0) / (
        values[j + 1] - values[j])
    if a <= 0.0 <= b:
        return 0.0
    return round(float(-b if b < 0 else -a), 2) + 0.0


#: A forecast needs at least this share of the work done by the last observation ...
MIN_FORECAST_DONE = 0.10
#: ... and at least this share produced within the rate window: a rate measured on a few elements
#: (2.6 % done, one walk apart) extrapolates to nonsense (a finish years out).
MIN_FORECAST_PRODUCED = 0.05
#: Why there is no forecast, as the dashboard and the CLI say it.
NO_FORECAST_TOO_LITTLE = "not enough production yet to forecast"
NO_FORECAST_NO_RATE = "no production in the recent window to forecast from"


@dataclass(frozen=True)
class Forecast:
    """A forecast finish, or None with ``reason`` saying why there is none."""

    finish: dt.date | None
    reason: str | None = None


def forecast(history: Sequence[tuple[dt.date, float]], window_days: int = 21) -> Forecast:
    """Date the work reaches 100 % at the recent production rate, or why there is no forecast.

    history: (observation date, percent complete as a share) in any order. The rate is the share
    produced between the first observation in the ``window_days`` before the last one (else the
    latest earlier one) and the last one, per calendar day. Withheld (:data:`NO_FORECAST_TOO_LITTLE`)
    while less than :data:`MIN_FORECAST_DONE` is done or less than :data:`MIN_FORECAST_PRODUCED` was
    produced over the window; none (:data:`NO_FORECAST_NO_RATE`) without production or when the
    finish would be more than :data:`MAX_FORECAST_DAYS` out. Never earlier than the last observation.
    """
    if not history:
        return Forecast(None, NO_FORECAST_TOO_LITTLE)
    ordered = sorted(history)
    last_date, last_pct = ordered[-1]
    if last_pct >= 1.0 - _EPS:
        return Forecast(last_date)  # done: finished by the last observation
    window_start = last_date - dt.timedelta(days=window_days)
    earlier = [(d, p) for d, p in ordered if d >= window_start and d < last_date] or \
        [(d, p) for d, p in ordered if d < last_date][-1:]
    if not earlier:
        return Forecast(None, NO_FORECAST_TOO_LITTLE)
    first_date, first_pct = earlier[0]
    days = (last_date - first_date).days
    produced = last_pct - first_pct
    if produced <= 0 or days <= 0:
        enough = last_pct >= MIN_FORECAST_DONE - _EPS
        return Forecast(None, NO_FORECAST_NO_RATE if enough else NO_FORECAST_TOO_LITTLE)
    if last_pct < MIN_FORECAST_DONE - _EPS or produced < MIN_FORECAST_PRODUCED - _EPS:
        return Forecast(None, NO_FORECAST_TOO_LITTLE)
    remaining = (1.0 - last_pct) / (produced / days)
    if remaining > MAX_FORECAST_DAYS:
        return Forecast(None, NO_FORECAST_NO_RATE)
    return Forecast(last_date + dt.timedelta(days=int(np.ceil(remaining))))


def forecast_finish(history: Sequence[tuple[dt.date, float]], window_days: int = 21) -> dt.date | None:
    """:func:`forecast`'s finish date (None when there is no forecast)."""
    return forecast(history, window_days).finish


@dataclass(frozen=True)
class TaskProgress:
    """A task's numbers on a date. ``planned``/``actual``: shares in [0, 1]; ``slip_days``:
    calendar days, positive when behind; ``forecast_finish``: a date or None; ``elements``: how
    many elements the task installs; ``seen``: the share of them some capture has seen
    (:func:`seen_share`)."""

    task: str
    planned: float
    actual: float
    slip_days: float
    forecast_finish: dt.date | None
    status: str
    elements: int
    seen: float = 1.0

    @property
    def planned_pct(self) -> float:
        """Planned percent, 0–100."""
        return 100.0 * self.planned

    @property
    def actual_pct(self) -> float:
        """Actual percent complete, 0–100."""
        return 100.0 * self.actual


#: A task slipping by at least this many days (either way) is "behind" or "ahead", not "on track".
STATUS_SLIP_DAYS = 1.0


def task_status(planned: float, actual: float, slip_days: float, seen: float = 1.0) -> str:
    """"not observed" (none of its elements seen yet: unknown is neither late nor complete, its
    percent is the plan's estimate), "complete", "not started" (nothing done, nothing planned
    yet), "behind", "ahead" or "on track"."""
    if seen <= 0.0:
        return "not observed"
    if actual >= 1.0 - _EPS:
        return "complete"
    if actual <= 0.0 and planned <= 0.0:
        return "not started"
    if slip_days >= STATUS_SLIP_DAYS:
        return "behind"
    if slip_days <= -STATUS_SLIP_DAYS:
        return "ahead"
    return "on track"


def task_progress(task_id: str, start: dt.date, finish: dt.date, elements: Sequence[str], stages: ElementStages,
                  today: dt.date, history: Sequence[tuple[dt.date, float]] = (),
                  quantities: Mapping[str, float] | None = None, working_days: bool = False,
                  holidays: Sequence[dt.date] = (), window_days: int = 21,
                  seen: Collection[str] | None = None, estimate: Mapping[str, float] | None = None
                  ) -> TaskProgress:
    """All numbers of one task at the end of ``today``.

    history: earlier (date, percent complete as a share) observations of this task, for the
    forecast. seen: the GlobalIds some capture has seen (None: all of them). estimate: the
    estimated share done of the unseen ones (:func:`estimate_unseen`; None: not done). A
    complete task has no slip."""
    actual = percent_complete(elements, stages, quantities, estimate)
    planned = planned_percent(start, finish, today, working_days, holidays)
    slip = 0.0 if actual >= 1.0 - _EPS else earned_schedule_slip(
        [PlannedWork(start, finish)], actual, today, working_days, holidays)
    known = 1.0 if seen is None else seen_share(elements, seen, quantities)
    # nothing of it seen: no production measured, so no forecast (its percent is the plan's)
    forecast = forecast_finish([*history, (today, actual)], window_days) if known > 0 else None
    return TaskProgress(task_id, planned, actual, slip, forecast, task_status(planned, actual, slip, known),
                        len(elements), known)


class Rollup(NamedTuple):
    """A group of tasks (a storey, a trade, the project) on a date: shares in [0, 1], slip in days."""

    planned: float
    actual: float
    slip_days: float


def _weighted(tasks: Sequence[tuple[PlannedWork, Sequence[str]]], quantities: Mapping[str, float] | None
              ) -> list[PlannedWork]:
    """Each task weighted by its elements: their count, or their summed quantity."""
    def weight(elements: Sequence[str]) -> float:
        if quantities:
            return float(sum(quantities.get(g, 0.0) for g in elements))
        return float(len(elements))

    return [PlannedWork(w.start, w.finish, weight(e)) for w, e in tasks]


def rollup(tasks: Sequence[tuple[PlannedWork, Sequence[str]]], stages: ElementStages, today: dt.date,
           quantities: Mapping[str, float] | None = None, working_days: bool = False,
           holidays: Sequence[dt.date] = (), estimate: Mapping[str, float] | None = None) -> Rollup:
    """Planned share, actual share and slip (days) of a group of tasks on ``today``: the weighted
    mean over its tasks' elements (by count, or by quantity when ``quantities`` is given); a task
    without elements weighs nothing. ``estimate``: as for :func:`percent_complete`."""
    weighted = _weighted(tasks, quantities)
    all_elements = [g for _, e in tasks for g in e]
    actual = percent_complete(all_elements, stages, quantities, estimate)
    planned = planned_curve(weighted, today, working_days, holidays)
    return Rollup(planned, actual, earned_schedule_slip(weighted, actual, today, working_days, holidays))


def s_curve(tasks: Sequence[tuple[PlannedWork, Sequence[str]]],
            snapshots: Sequence[tuple[dt.date, ElementStages]], quantities: Mapping[str, float] | None = None,
            working_days: bool = False, holidays: Sequence[dt.date] = (),
            seen_by: Callable[[dt.date], Collection[str]] | None = None) -> list[tuple[dt.date, float, float]]:
    """(date, planned share, actual share) at each snapshot of element stages, in date order.

    seen_by: the GlobalIds seen by the end of a date; given, the actual share estimates the unseen
    elements as of that date (:func:`estimate_unseen`; an element at a stage counts as seen),
    as the roll-ups of that date do."""
    weighted = _weighted(tasks, quantities)
    all_elements = [g for _, e in tasks for g in e]
    curve = []
    for date, stages in sorted(snapshots, key=lambda s: s[0]):
        estimate = None
        if seen_by is not None:
            seen = set(seen_by(date)) | {gid for gid, (_, stage) in stages.items() if stage}
            estimate = estimate_unseen(tasks, stages, seen, date, quantities, working_days, holidays)
        curve.append((date, planned_curve(weighted, date, working_days, holidays),
                      percent_complete(all_elements, stages, quantities, estimate)))
    return curve


def planned_series(tasks: Sequence[tuple[PlannedWork, Sequence[str]]], days: Sequence[dt.date],
                   quantities: Mapping[str, float] | None = None, working_days: bool = False,
                   holidays: Sequence[dt.date] = ()) -> np.ndarray:
    """(len(days),) planned share in [0, 1] of a group of tasks at the end of each day: the planned
    half of the S-curve over the whole schedule, in one vectorised pass."""
    weighted = _weighted(tasks, quantities)
    if not weighted or not len(days):
        return np.zeros(len(days))
    return _curve(weighted, np.array([np.datetime64(d, "D") for d in days]), working_days, holidays)


def task_elements(schedule) -> dict[str, tuple[str, ...]]:
    """Each task's elements, a summary task's being its descendants' (and its own), by task id.

    schedule: a :class:`twin.schedule.Schedule` (validated: no cycles in the parent links)."""
    children: dict[str | None, list[str]] = {}
    for task in schedule.tasks:
        children.setdefault(task.parent, []).append(task.id)
    own = {t.id: t.elements for t in schedule.tasks}
    out: dict[str, tuple[str, ...]] = {}

    def collect(task_id: str, seen: frozenset[str]) -> tuple[str, ...]:
        if task_id not in out:
            found = list(own.get(task_id, ()))
            for child in children.get(task_id, []):
                if child not in seen:
                    found += collect(child, seen | {child})
            out[task_id] = tuple(dict.fromkeys(found))
        return out[task_id]

    for task in schedule.tasks:
        collect(task.id, frozenset({task.id}))
    return out


def schedule_progress(schedule, stages: ElementStages, today: dt.date,
                      snapshots: Sequence[tuple[dt.date, ElementStages]] = (),
                      quantities: Mapping[str, float] | None = None, working_days: bool = False,
                      holidays: Sequence[dt.date] = ()) -> list[TaskProgress]:
    """:func:`task_progress` of every dated task with elements of ``schedule`` (summaries over their
    descendants' elements), the forecast from ``snapshots`` (earlier (date, stages))."""
    elements = task_elements(schedule)
    out = []
    for task in schedule.tasks:
        linked = elements[task.id]
        if not linked or task.planned_start is None or task.planned_finish is None:
            continue
        history = [(day, percent_complete(linked, snapshot, quantities)) for day, snapshot in snapshots if day < today]
        out.append(task_progress(task.id, task.planned_start, task.planned_finish, linked, stages, today, history,
                                 quantities, working_days, holidays))
    return out
