"""Fused statuses through a project's weeks scored against the as-built truth (``sitetwin evaluate
--timeline``): precision, recall and F1 of "installed", stage accuracy, false installs that persist,
latency, review flags, percent complete and slip.

Pure numpy over plain data: a :class:`Snapshot` per capture and per week's end holds (N,) arrays
over the scored elements; days are calendar days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Snapshot:
    """The database and the truth at one moment: just after a capture, or at a week's end.
    Arrays are (N,) over the scored elements."""

    date: dt.date
    week: int
    shown: np.ndarray      # int: fused stage (0 without a status)
    flagged: np.ndarray    # bool: needs review
    truth: np.ndarray      # int: true stage at the end of ``date``
    seen: np.ndarray       # bool: visible in some capture so far
    percent: float | None = None
    true_percent: float | None = None
    slip_days: float | None = None
    true_slip_days: float | None = None
    seen_percent: float | None = None       # percent complete over the elements seen so far
    true_seen_percent: float | None = None


def _ratio(num, den, digits=4):
    return round(float(num) / den, digits) if den else None


def installed_metrics(shown: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """Precision, recall, F1 of "installed" (stage ≥ 1) and stage accuracy over ``mask``."""
    s, t = shown[mask] >= 1, truth[mask] >= 1
    tp, fp, fn = int((s & t).sum()), int((s & ~t).sum()), int((~s & t).sum())
    return _counts_metrics(tp, fp, fn, int((shown[mask] == truth[mask]).sum()), int(mask.sum()))


def _counts_metrics(tp, fp, fn, stage_ok, samples) -> dict:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "stage_accuracy": _ratio(stage_ok, samples),
            "element_captures": samples, "tp": tp, "fp": fp, "fn": fn}


def latencies(install_day: np.ndarray, capture_days: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, int]:
    """(latency in days per element shown installed after its true installation, how many truly
    installed elements were never shown installed after it).

    install_day: (N,) day of true installation (inf: never); capture_days: (C,) day of each
    capture; shown: (C, N) stage shown after each capture. Installations after the last capture
    are not counted."""
    installed = np.isfinite(install_day) & (install_day <= capture_days[-1])
    after = capture_days[:, None] >= install_day[None, :]
    hit = after & (shown >= 1)
    any_hit = hit.any(axis=0)
    first = np.argmax(hit, axis=0)
    ok = installed & any_hit
    return capture_days[first[ok]] - install_day[ok], int((installed & ~any_hit).sum())


def flag_outcomes(snapshots: Sequence[Snapshot]) -> tuple[int, int]:
    """(flags raised, flags that were right). A flag is raised at a capture where an element's
    needs-review turns on; it is right when the element truly regressed (its true stage is below
    the highest it had at an earlier capture) or the stage shown just before was wrong."""
    raised = right = 0
    for k, snap in enumerate(snapshots):
        before = snapshots[k - 1].flagged if k else np.zeros_like(snap.flagged)
        new = snap.flagged & ~before
        if not new.any():
            continue
        highest = np.max([s.truth for s in snapshots[: k + 1]], axis=0)
        regressed = snap.truth < highest
        wrong_before = (snapshots[k - 1].shown != snapshots[k - 1].truth) if k else np.zeros_like(new)
        raised += int(new.sum())
        right += int((new & (regressed | wrong_before)).sum())
    return raised, right


def score_snapshots(snapshots: Sequence[Snapshot], week_ends: Sequence[Snapshot], install_day: np.ndarray,
                    epoch: dt.date) -> dict:
    """The report of a timeline: per week and overall (see the module docstring).

    snapshots: one per capture; week_ends: one per week (its last day, Sunday), whether or not it
    had captures; install_day: (N,) days since ``epoch`` of each element's true first installation
    (inf: never, or not counted)."""
    by_week: dict[int, list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        by_week[snap.week].append(snap)
    per_week, totals = [], np.zeros(5, dtype=np.int64)
    persisting = element_weeks = 0
    for end in week_ends:
        counts = np.zeros(5, dtype=np.int64)
        for snap in by_week.get(end.week, ()):
            m = installed_metrics(snap.shown, snap.truth, snap.seen)
            counts += [m["tp"], m["fp"], m["fn"], int((snap.shown[snap.seen] == snap.truth[snap.seen]).sum()),
                       m["element_captures"]]
        totals += counts
        false_installs = int(((end.shown >= 1) & (end.truth == 0)).sum())
        persisting += false_installs
        element_weeks += len(end.shown)
        seen = int(end.seen.sum())
        per_week.append({
            "week": end.week, "week_end": end.date.isoformat(), "captures": len(by_week.get(end.week, ())),
            **_counts_metrics(*[int(x) for x in counts]),
            "false_installs_at_week_end": false_installs,
            "flagged": int(end.flagged.sum()), "flagged_share": _ratio(int(end.flagged.sum()), seen),
            "coverage": _ratio(seen, len(end.seen)),
            "percent": end.percent, "true_percent": end.true_percent,
            "percent_error": None if end.percent is None else round(end.percent - end.true_percent, 1),
            "seen_percent": end.seen_percent, "true_seen_percent": end.true_seen_percent,
            "slip_days": end.slip_days, "true_slip_days": end.true_slip_days,
            "slip_error_days": (None if end.slip_days is None or end.true_slip_days is None
                                else round(end.slip_days - end.true_slip_days, 1)),
        })
    if snapshots:
        capture_days = np.array([(s.date - epoch).days + 1.0 for s in snapshots])
        latency, never = latencies(install_day, capture_days, np.array([s.shown for s in snapshots]))
    else:
        latency, never = np.array([]), 0
    raised, right = flag_outcomes(snapshots)
    errors = [abs(w["percent_error"]) for w in per_week if w["percent_error"] is not None]
    last = week_ends[-1] if week_ends else None
    overall = {
        **_counts_metrics(*[int(x) for x in totals]),
        "persisting_false_installs": persisting, "element_weeks": element_weeks,
        "persisting_false_install_share": _ratio(persisting, element_weeks, 5),
        "latency_median_days": round(float(np.median(latency)), 1) if len(latency) else None,
        "latency_p90_days": round(float(np.percentile(latency, 90)), 1) if len(latency) else None,
        "latency_elements": int(len(latency)), "installed_not_shown": never,
        "flags_raised": raised, "flags_right": right,
        "flagged_share": _ratio(int(last.flagged.sum()), int(last.seen.sum())) if last is not None else None,
        "percent_error_max": max(errors) if errors else None,
        "slip_error_max_days": max((abs(w["slip_error_days"]) for w in per_week
                                    if w["slip_error_days"] is not None), default=None),
        "coverage": _ratio(int(last.seen.sum()), len(last.seen)) if last is not None else None,
    }
    return {"per_week": per_week, "overall": overall}
