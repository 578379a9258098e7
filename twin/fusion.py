"""Observations from many frames and captures → each element's install status.

An :class:`Observation` is one frame's claim about one element: seen installed at a stage, seen
absent (expected visible, nothing detected), or not visible. *Not visible is never evidence*: it
is counted, and it moves nothing.

For each stage ``s`` of an element, fusion fits the best monotone step "not reached before time
T, reached from T on" to the time-ordered evidence (a change point; or "never reached"), where an
observation supports "stage ≥ s reached" with weight ``logit(confidence)`` when it saw stage ≥ s,
and opposes it with the same weight when it saw a lower stage or absence (the log-odds is
floored at 0: a claim below even odds is no evidence, never evidence for its opposite). The fused stage is the
highest stage whose best fit is "reached", with stages forced to be reached in order. Evidence is
sorted by (time, frame) first, so the same set of observations gives the same result in any order.

A step fit cannot regress. When evidence *after* the reached time opposes the stage strongly
(summed weight beyond :data:`REVIEW_MARGIN`), the element keeps its stage and is flagged for
review rather than silently going backwards. A reviewer's decision (``reviewed_stage``) wins.

:func:`fuse` is the reference, one element at a time. :func:`fuse_arrays` is the same fit over
arrays, vectorised over elements (a project's million observations in seconds); it gives the same
stages, times, flags and probabilities, and leaves choosing the evidence frames to the caller.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

INSTALLED = "installed"
ABSENT = "absent"
NOT_VISIBLE = "not_visible"
KINDS = (INSTALLED, ABSENT, NOT_VISIBLE)
#: Integer codes of the kinds for :func:`fuse_arrays`, in the kinds' alphabetical order (the
#: reference breaks ties between observations of one frame time by the kind's name).
KIND_CODES = {ABSENT: 0, INSTALLED: 1, NOT_VISIBLE: 2}

#: Confidence is clipped to [1 - CLIP, CLIP] before the logit, so one frame never decides alone.
CONFIDENCE_CLIP = 0.99
#: Summed logit weight of contrary evidence after a stage was reached that flags the element for
#: review: about three confident (0.9) contrary frames.
REVIEW_MARGIN = 6.0


@dataclass(frozen=True)
class Observation:
    """One frame's claim about one element.

    element: GlobalId. frame: the frame's id (unique across captures). at: capture time (UTC).
    kind: :data:`INSTALLED`, :data:`ABSENT` or :data:`NOT_VISIBLE`.
    stage: for INSTALLED, the stage seen (≥ 1, see :mod:`twin.taxonomy`); 0 otherwise.
    confidence: probability the claim is right, in (0, 1].
    region: where in the frame, panorama pixels ``(u0, v0, u1, v1)``, or None.
    """

    element: str
    frame: str
    at: dt.datetime
    kind: str
    stage: int = 0
    confidence: float = 1.0
    region: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"observation kind {self.kind!r} (frame {self.frame}, element {self.element})")
        if self.kind == INSTALLED and self.stage < 1:
            raise ValueError(f"an installed observation needs a stage ≥ 1 (frame {self.frame}, element {self.element})")
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} outside (0, 1] (frame {self.frame}, element {self.element})")


@dataclass
class ElementStatus:
    """The fused status of one element.

    stage: fused stage (0 = not started). probability: belief that ``stage`` is reached (for
    stage 0: that stage 1 is not). reached_at: per stage 1..stage, the time it was first seen
    reached. first_seen / last_seen: times of the first and last frames that saw the element
    (installed or absent). evidence: the frames behind the stage (the newest few, best first).
    needs_review: strong later evidence contradicts the stage.
    """

    element: str
    stage: int
    probability: float
    reached_at: list[dt.datetime] = field(default_factory=list)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    observations: int = 0
    not_visible: int = 0
    evidence: list[Observation] = field(default_factory=list)
    needs_review: bool = False
    reviewed: bool = False


def _weight(confidence: float) -> float:
    """Evidence for the claim: its log-odds, floored at 0. A claim below even odds (a weakly seen
    "absent", say) is no evidence at all; it is never evidence for the opposite claim."""
    c = min(max(confidence, 1.0 - CONFIDENCE_CLIP), CONFIDENCE_CLIP)
    return max(math.log(c / (1.0 - c)), 0.0)


def _support(observation: Observation, stage: int) -> float:
    """Signed evidence that ``stage`` is reached (positive: reached)."""
    w = _weight(observation.confidence)
    if observation.kind == INSTALLED:
        return w if observation.stage >= stage else -w
    return -w  # ABSENT


def _step_fit(supports: list[float]) -> tuple[int | None, float, float]:
    """Best monotone step over time-ordered supports.

    Returns (index the stage is reached from, or None for never; score margin of that choice over
    "never reached"; summed opposing weight after the change point).
    """
    total = sum(supports)
    never = -total
    best_index, best_score = None, never
    before = 0.0  # sum of supports strictly before index i
    for i, s in enumerate(supports):
        score = -before + (total - before)
        if score > best_score:
            best_index, best_score = i, score
        before += s
    if best_index is None:
        return None, 0.0, 0.0
    contrary = -sum(s for s in supports[best_index:] if s < 0)
    return best_index, best_score - never, contrary


def fuse_element(element: str, observations: Iterable[Observation], final_stage: int,
                 reviewed_stage: int | None = None) -> ElementStatus:
    """Fuse one element's observations (any order). ``final_stage``: its class's last stage."""
    ordered = sorted(observations, key=lambda o: (o.at, o.frame, o.kind, o.stage, o.confidence))
    seen = [o for o in ordered if o.kind != NOT_VISIBLE]
    status = ElementStatus(element=element, stage=0, probability=0.5,
                           observations=len(seen), not_visible=len(ordered) - len(seen))
    if seen:
        status.first_seen, status.last_seen = seen[0].at, seen[-1].at
    reached_from = 0  # stages must be reached in order, never before the previous one
    for stage in range(1, final_stage + 1):
        supports = [_support(o, stage) for o in seen[reached_from:]]
        index, margin, contrary = _step_fit(supports)
        if index is None:
            break
        reached_from += index
        status.stage = stage
        status.reached_at.append(seen[reached_from].at)
        status.probability = 1.0 / (1.0 + math.exp(-margin / 2.0))
        status.needs_review = contrary >= REVIEW_MARGIN
    if status.stage == 0:
        against = -sum(_support(o, 1) for o in seen)
        status.probability = 1.0 / (1.0 + math.exp(-against)) if seen else 0.5
    status.evidence = sorted(
        (o for o in seen if (o.kind == INSTALLED and o.stage == status.stage) or (status.stage == 0 and o.kind == ABSENT)),
        key=lambda o: (-o.at.timestamp(), -o.confidence, o.frame),
    )[:5]
    if reviewed_stage is not None:
        status.stage, status.reviewed, status.needs_review = reviewed_stage, True, False
    return status


def fuse(observations: Iterable[Observation], final_stages: dict[str, int],
         reviewed: dict[str, int] | None = None) -> dict[str, ElementStatus]:
    """Fuse observations of many elements. ``final_stages``: GlobalId → its class's last stage.

    Elements without observations are absent from the result (unknown, not "not started").
    Raises KeyError naming an observed element missing from ``final_stages``.
    """
    by_element: dict[str, list[Observation]] = defaultdict(list)
    for observation in observations:
        by_element[observation.element].append(observation)
    reviewed = reviewed or {}
    result = {}
    for element in sorted(by_element):
        if element not in final_stages:
            raise KeyError(f"observation of unknown element {element}")
        result[element] = fuse_element(element, by_element[element], final_stages[element], reviewed.get(element))
    return result


@dataclass
class FusedArrays:
    """Fused statuses of the n elements that have observations, as arrays (see :func:`fuse_arrays`).

    element: (n,) int, ascending, the caller's element index. stage: (n,) int. probability: (n,)
    float. reached_at: (n, S) datetime64[us] UTC, column s-1 the time stage s was first seen
    reached, NaT beyond the element's stage (S: the largest final stage). first_seen, last_seen:
    (n,) datetime64[us], NaT when only ever not visible. observations, not_visible: (n,) int.
    needs_review, reviewed: (n,) bool.
    """

    element: np.ndarray
    stage: np.ndarray
    probability: np.ndarray
    reached_at: np.ndarray
    first_seen: np.ndarray
    last_seen: np.ndarray
    observations: np.ndarray
    not_visible: np.ndarray
    needs_review: np.ndarray
    reviewed: np.ndarray


def _frame_ranks(frame: np.ndarray) -> np.ndarray:
    """(m,) int: each frame id's rank among the ids ordered as decimal strings (the reference's
    tie-break, whose frame ids are strings)."""
    unique, inverse = np.unique(frame, return_inverse=True)
    by_text = sorted(range(len(unique)), key=lambda i: str(unique[i]))
    rank = np.empty(len(unique), dtype=np.int64)
    rank[by_text] = np.arange(len(unique))
    return rank[inverse.reshape(-1)]


def fuse_arrays(element: np.ndarray, frame: np.ndarray, at: np.ndarray, kind: np.ndarray, stage: np.ndarray,
                confidence: np.ndarray, final_stage: np.ndarray, reviewed_stage: np.ndarray | None = None
                ) -> FusedArrays:
    """:func:`fuse` over arrays of m observations of E elements, vectorised over elements.

    element: (m,) int in [0, E). frame: (m,) int frame ids. at: (m,) datetime64 (UTC) of each
    observation's frame. kind: (m,) int, :data:`KIND_CODES`. stage: (m,) int (≥ 1 where installed).
    confidence: (m,) float in (0, 1]. final_stage: (E,) int, each element's last stage.
    reviewed_stage: (E,) int, a reviewer's stage or -1 (default: none). Inputs are not modified.

    The step fit is :func:`_step_fit`'s, with the same float operations in the same order, so
    stages, times and flags equal the reference's; probabilities agree to the last bit or two
    (the same formula, evaluated with ``math``). Evidence frames are not chosen.
    """
    element = np.asarray(element, dtype=np.int64)
    m = len(element)
    frame, at, kind, stage, confidence = (np.asarray(a) for a in (frame, at, kind, stage, confidence))
    if any(a.shape != (m,) for a in (frame, at, kind, stage, confidence)):
        raise ValueError("element, frame, at, kind, stage and confidence must all have shape (m,)")
    final_stage = np.asarray(final_stage, dtype=np.int64)
    n_elements = len(final_stage)
    reviewed_stage = (np.full(n_elements, -1, dtype=np.int64) if reviewed_stage is None
                      else np.asarray(reviewed_stage, dtype=np.int64))
    if m and (element.min() < 0 or element.max() >= n_elements):
        raise KeyError("observation of an element outside final_stage")
    if np.any((kind == KIND_CODES[INSTALLED]) & (stage < 1)) or np.any((confidence <= 0) | (confidence > 1)):
        raise ValueError("an installed observation needs a stage ≥ 1 and every confidence is in (0, 1]")
    at = at.astype("datetime64[us]")

    present = np.unique(element)
    n = len(present)
    position = np.searchsorted(present, element)  # each observation's row in the result
    seen = kind != KIND_CODES[NOT_VISIBLE]
    not_visible = np.bincount(position[~seen], minlength=n)
    observations = np.bincount(position[seen], minlength=n)
    max_stage = int(final_stage[present].max()) if n else 0
    result = FusedArrays(
        element=present, stage=np.zeros(n, dtype=np.int64), probability=np.full(n, 0.5),
        reached_at=np.full((n, max_stage), np.datetime64("NaT"), dtype="datetime64[us]"),
        first_seen=np.full(n, np.datetime64("NaT"), dtype="datetime64[us]"),
        last_seen=np.full(n, np.datetime64("NaT"), dtype="datetime64[us]"),
        observations=observations, not_visible=not_visible, needs_review=np.zeros(n, dtype=bool),
        reviewed=np.zeros(n, dtype=bool))

    # Seen observations in the reference's order: by element, then (time, frame, kind, stage, confidence).
    rows, s_at, s_kind, s_stage, s_conf = (a[seen] for a in (position, at, kind, stage, confidence))
    order = np.lexsort((s_conf, s_stage, s_kind, _frame_ranks(frame[seen]), s_at, rows))
    rows, s_at, s_kind, s_stage, s_conf = (a[order] for a in (rows, s_at, s_kind, s_stage, s_conf))
    unique_conf, conf_index = np.unique(s_conf, return_inverse=True)
    weight = np.array([_weight(float(c)) for c in unique_conf])[conf_index.reshape(-1)]
    installed = s_kind == KIND_CODES[INSTALLED]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.r_[starts, len(rows)])
    group_row = rows[starts]  # the result row of each group of seen observations
    result.first_seen[group_row] = s_at[starts]
    result.last_seen[group_row] = s_at[starts + lengths - 1]

    margin = np.zeros(n)
    against = np.zeros(n)
    # Groups padded to a matrix per power-of-two length, so padding at most doubles the work.
    bucket = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for b in np.unique(bucket):
        groups = np.flatnonzero(bucket == b)
        width = int(lengths[groups].max())
        column = np.arange(width)
        valid = column[None, :] < lengths[groups][:, None]
        index = np.where(valid, starts[groups][:, None] + column[None, :], 0)
        w, inst, obs_stage = weight[index], installed[index], s_stage[index]
        finals = final_stage[present[group_row[groups]]]
        reached_from = np.zeros(len(groups), dtype=np.int64)
        active = np.ones(len(groups), dtype=bool)
        for level in range(1, max(int(finals.max()), 1) + 1):  # level 1 also for `against`
            candidate = valid & (column[None, :] >= reached_from[:, None])
            support = np.where(candidate, np.where(inst & (obs_stage >= level), w, -w), 0.0)
            running = np.cumsum(support, axis=1)
            total = running[:, -1]
            before = np.concatenate([np.zeros((len(groups), 1)), running[:, :-1]], axis=1)
            score = np.where(candidate, -before + (total[:, None] - before), -np.inf)
            best = np.argmax(score, axis=1)
            best_score = score[np.arange(len(groups)), best]
            never = -total
            if level == 1:
                against[group_row[groups]] = -total
            active &= (level <= finals) & (best_score > never)
            if not active.any():
                break
            reached_from = np.where(active, best, reached_from)
            target = group_row[groups[active]]
            result.stage[target] = level
            result.reached_at[target, level - 1] = s_at[index[active, best[active]]]
            margin[target] = (best_score - never)[active]
            contrary_support = np.where(support < 0, support, 0.0)
            contrary_support[column[None, :] < best[:, None]] = 0.0
            result.needs_review[target] = (-np.cumsum(contrary_support, axis=1)[:, -1] >= REVIEW_MARGIN)[active]
    # The reference's probabilities, with math's exp (numpy's may differ in the last bit).
    for k in range(n):
        if result.stage[k] > 0:
            result.probability[k] = 1.0 / (1.0 + math.exp(-margin[k] / 2.0))
        elif result.observations[k]:
            result.probability[k] = 1.0 / (1.0 + math.exp(-against[k]))
    review = reviewed_stage[present]
    result.reviewed = review >= 0
    result.stage = np.where(result.reviewed, review, result.stage)
    result.needs_review &= ~result.reviewed
    return result
