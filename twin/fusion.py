"""Observations from many frames and captures → each element's install status.

An :class:`Observation` is one frame's claim about one element: seen installed at a stage, seen
absent (expected visible, nothing detected), or not visible. *Not visible is never evidence*: it
is counted, and it moves nothing (it does not even advance the clock of the model below).

The belief about an element is a posterior over its state 0..final (0 = not started; final: its
class's last stage, :mod:`twin.taxonomy`) through time: a hidden Markov model filtered forward
over the element's observations in time order.

* The model is monotone: between two observations ``Δ`` days apart an element not started
  starts with probability ``1 - exp(-Δ / START_DAYS)``; a started one advances a Poisson number
  of stages with mean ``Δ / STAGE_DAYS`` (the final stage absorbs; an element that starts in the
  gap advances likewise from stage 1); a started element is taken out again (rework, back to
  stage 0) with probability ``1 - exp(-REWORK_PER_DAY · Δ)``.
* An observation's confidence ``c`` is read as a calibrated probability that its claim is right,
  clipped to [1 - CONFIDENCE_CLIP, CONFIDENCE_CLIP] and floored at 0.5 (a claim below even
  odds is no evidence, never evidence for its opposite). "Absent" has likelihood ``c`` in state
  0 and ``1 - c`` in any started state. "Installed at stage k" has ``c`` in state k, ``1 - c`` in
  state 0, and in another started state something between: a claim of the wrong stage counts
  against that state less than absence does (:data:`STAGE_MISMATCH`).
* The belief is not a ratchet: a lone false positive followed by confident absences ends back
  at stage 0, because "the positive was wrong" explains them far better than rework.

Published after the last observation of each frame time: the stage is the highest ``s`` with
P(state ≥ s) above :data:`PUBLISH`. An element *needs review* when the belief in the highest
stage it ever held confidently (P ≥ :data:`HELD`) is now below :data:`DOUBT`: it moved back
from that stage, or strong recent evidence speaks against it. A reviewer's decision
(``reviewed_stage``) wins. Observations are sorted by (time, frame, kind, stage, confidence)
first, so the same set gives the same result in any order.

:func:`fuse` is the reference, one element at a time in plain Python. :func:`fuse_arrays` is the
same filter over arrays, vectorised over elements (a project's million observations in seconds);
it performs the same floating-point operations in the same order, so stages, times, flags and
probabilities equal the reference's, and leaves choosing the evidence frames to the caller.
"""

from __future__ import annotations

import datetime as dt
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

#: Confidence is clipped to [1 - CONFIDENCE_CLIP, CONFIDENCE_CLIP], so one frame never decides alone.
CONFIDENCE_CLIP = 0.99
#: Belief that an element is not started when it is first seen; the rest is spread evenly over its stages.
PRIOR_NOT_STARTED = 0.5
#: Days: mean wait before an element not started starts. An element seen absent walk after walk
#: has a 21 % prior chance of having started a week later: one confident (0.9) "installed" frame
#: then makes it installed, one weak (0.75) frame alone does not.
START_DAYS = 30.0
#: Days: mean time a started element takes to advance one stage (a 50 % prior chance over a week:
#: one confident frame of the next stage moves it on).
STAGE_DAYS = 10.0
#: Per day: hazard of a started element being taken out again (rework). Small, so a state held
#: for weeks takes about three confident "absent" frames to move back (and is flagged on the way).
REWORK_PER_DAY = 0.001
#: How far a claim of the wrong stage (installed at k, the element at another started stage)
#: counts against that state, as a share of the log-odds of absence: one stage off counts half;
#: each further stage closes half the remaining distance (3/4, 7/8, …), never as much as absence.
STAGE_MISMATCH = 0.5
#: The published stage is the highest with P(state ≥ stage) above PUBLISH (ties go to the lower
#: stage; TIE absorbs rounding in sums such as 1/6 + 1/6 + 1/6).
PUBLISH = 0.5
TIE = 1e-12
#: Belief at or above which a stage counts as held confidently.
HELD = 0.9
#: An element whose belief in the highest stage it held confidently fell below DOUBT needs review.
DOUBT = 0.7
#: Evidence frames kept per side (supporting the stage; for an element that needs review, contrary).
EVIDENCE_FRAMES = 5
DAY_US = 86_400_000_000

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

    stage: published stage at the last observation (0 = not started). probability: the posterior
    that ``stage`` is reached, P(state ≥ stage) (for stage 0: P(state = 0)). reached_at: per stage
    1..stage, when the current run of belief in it began (the first observation time from which
    the published stage has been at least that stage). first_seen / last_seen: times of the
    first and last frames that saw the element (installed or absent). evidence: the frames behind
    the stage, newest first; for an element that needs review, followed by the newest frames on
    the other side. needs_review: the belief fell from a stage it once held confidently (rework,
    or an earlier false install), or strong recent evidence contradicts the held stage.
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


def _strength(confidence: np.ndarray) -> np.ndarray:
    """(m,) confidence → (m,) probability the claim is right, clipped and floored at even odds."""
    return np.maximum(np.clip(confidence, 1.0 - CONFIDENCE_CLIP, CONFIDENCE_CLIP), 0.5)


def _likelihoods(kind: np.ndarray, stage: np.ndarray, confidence: np.ndarray, n_states: int) -> np.ndarray:
    """(m, n_states) likelihood of each (seen) observation in each state 0..n_states-1.

    kind: (m,) :data:`KIND_CODES` (installed or absent); stage: (m,) the stage claimed when
    installed; confidence: (m,) in (0, 1]. Shared by the reference and :func:`fuse_arrays`, so
    both read the same numbers."""
    c = _strength(np.ascontiguousarray(confidence, dtype=float))
    states = np.arange(n_states)
    distance = np.abs(states[None, :] - np.asarray(stage, dtype=np.int64)[:, None])
    mismatch = 1.0 - (1.0 - STAGE_MISMATCH) ** distance
    wrong_stage = c[:, None] * np.exp(mismatch * np.log((1.0 - c) / c)[:, None])
    installed = (np.asarray(kind) == KIND_CODES[INSTALLED])[:, None]
    started = states[None, :] >= 1
    return np.where(installed, np.where(started, wrong_stage, (1.0 - c)[:, None]),
                    np.where(started, (1.0 - c)[:, None], c[:, None]))


def _gap_terms(days: np.ndarray, n_states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transition terms over gaps of (m,) ``days`` ≥ 0: (m,) the probability of starting, (m,
    n_states) of a started element advancing exactly j stages, (m, n_states) at least j stages,
    and (m,) the rework probability."""
    days = np.ascontiguousarray(days, dtype=float)
    rate = days / STAGE_DAYS
    exactly = np.empty((len(days), n_states))
    at_least = np.empty((len(days), n_states))
    exactly[:, 0] = np.exp(-rate)
    at_least[:, 0] = 1.0
    for j in range(1, n_states):
        exactly[:, j] = exactly[:, j - 1] * rate / j
        at_least[:, j] = np.maximum(at_least[:, j - 1] - exactly[:, j - 1], 0.0)
    return -np.expm1(-days / START_DAYS), exactly, at_least, -np.expm1(-REWORK_PER_DAY * days)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _filter(ordered: list[Observation], final_stage: int
            ) -> tuple[int, float, list[dt.datetime], int, list[float]]:
    """The forward filter over one element's seen observations in order (plain Python floats).

    Returns (published stage, its probability, reached_at per stage 1..stage, the highest stage
    held confidently, the final P(state ≥ s) per s in 0..final)."""
    n_states = final_stage + 1
    likelihood = _likelihoods(np.array([KIND_CODES[o.kind] for o in ordered]),
                              np.array([o.stage for o in ordered]),
                              np.array([o.confidence for o in ordered], dtype=float), n_states).tolist()
    at = np.array([_naive_utc(o.at) for o in ordered], dtype="datetime64[us]")
    days = np.zeros(len(ordered))
    days[1:] = (at[1:] - at[:-1]).astype(np.int64) / DAY_US
    start, exactly, at_least, rework = (a.tolist() for a in _gap_terms(days, n_states))
    prior = [PRIOR_NOT_STARTED] + [(1.0 - PRIOR_NOT_STARTED) / final_stage] * final_stage
    belief: list[float] = []
    stage, held, since = 0, 0, [None] * n_states
    above = [1.0] + [0.0] * final_stage
    for i, observation in enumerate(ordered):
        if i == 0:
            predicted = prior
        else:
            predicted = []
            for t in range(n_states):
                terms = exactly[i] if t < final_stage else at_least[i]
                acc = belief[0] * (1.0 - start[i]) if t == 0 else belief[0] * (start[i] * terms[t - 1])
                for s in range(1, t + 1):
                    acc = acc + belief[s] * terms[t - s]
                predicted.append(acc)
            moved = 0.0
            for t in range(1, n_states):
                moved = moved + predicted[t]
            keep = 1.0 - rework[i]
            predicted = [predicted[0] + rework[i] * moved] + [p * keep for p in predicted[1:]]
        belief = [p * lk for p, lk in zip(predicted, likelihood[i], strict=True)]
        total = 0.0
        for b in belief:
            total = total + b
        belief = [b / total for b in belief]
        if i + 1 < len(ordered) and ordered[i + 1].at == observation.at:
            continue  # published once all frames of this time are in
        upper = 0.0
        for s in range(final_stage, 0, -1):
            upper = upper + belief[s]
            above[s] = upper
        published = sum(1 for s in range(1, n_states) if above[s] - PUBLISH > TIE)
        held = max(held, sum(1 for s in range(1, n_states) if above[s] >= HELD))
        for s in range(1, n_states):
            since[s] = None if published < s else (observation.at if stage < s else since[s])
        stage = published
    probability = above[stage] if stage else belief[0]
    return stage, probability, since[1:stage + 1], held, above


def _newest(observations: Iterable[Observation]) -> list[Observation]:
    return sorted(observations, key=lambda o: (-o.at.timestamp(), -o.confidence, o.frame))[:EVIDENCE_FRAMES]


def fuse_element(element: str, observations: Iterable[Observation], final_stage: int,
                 reviewed_stage: int | None = None) -> ElementStatus:
    """Fuse one element's observations (any order). ``final_stage``: its class's last stage."""
    ordered = sorted(observations, key=lambda o: (o.at, o.frame, o.kind, o.stage, o.confidence))
    seen = [o for o in ordered if o.kind != NOT_VISIBLE]
    status = ElementStatus(element=element, stage=0, probability=PRIOR_NOT_STARTED,
                           observations=len(seen), not_visible=len(ordered) - len(seen))
    if seen:
        status.first_seen, status.last_seen = seen[0].at, seen[-1].at
        status.stage, status.probability, status.reached_at, held, above = _filter(seen, final_stage)
        status.needs_review = held >= 1 and above[held] < DOUBT

        def reaches(o: Observation, level: int) -> bool:
            return o.kind == INSTALLED and o.stage >= level

        status.evidence = _newest(o for o in seen if (o.kind == INSTALLED and o.stage == status.stage)
                                  or (status.stage == 0 and o.kind == ABSENT))
        if status.needs_review:
            # The other side of the held stage: what saw it reached when the belief fell below
            # it, what spoke against it when the belief still holds it.
            other_side_reaches = held > status.stage
            status.evidence += _newest(o for o in seen
                                       if reaches(o, held) == other_side_reaches and o not in status.evidence)
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
    float. reached_at: (n, S) datetime64[us] UTC, column s-1 when the current run of belief
    in stage s began, NaT beyond the element's stage (S: the largest final stage). first_seen, last_seen:
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

    The filter steps through the k-th observation of every element at once, as (elements ×
    states) arrays, elements sorted by how many observations they have so that step k touches
    only those with more than k. States beyond an element's final stage hold exactly zero, so the
    sums equal the reference's term for term. Evidence frames are not chosen.
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
    nat = np.datetime64("NaT")
    result = FusedArrays(
        element=present, stage=np.zeros(n, dtype=np.int64), probability=np.full(n, PRIOR_NOT_STARTED),
        reached_at=np.full((n, max_stage), nat, dtype="datetime64[us]"),
        first_seen=np.full(n, nat, dtype="datetime64[us]"), last_seen=np.full(n, nat, dtype="datetime64[us]"),
        observations=observations, not_visible=not_visible, needs_review=np.zeros(n, dtype=bool),
        reviewed=np.zeros(n, dtype=bool))

    # Seen observations in the reference's order: by element, then (time, frame, kind, stage, confidence).
    rows, s_at, s_kind, s_stage, s_conf = (a[seen] for a in (position, at, kind, stage, confidence))
    order = np.lexsort((s_conf, s_stage, s_kind, _frame_ranks(frame[seen]), s_at, rows))
    rows, s_at, s_kind, s_stage, s_conf = (a[order] for a in (rows, s_at, s_kind, s_stage, s_conf))
    if len(rows):
        _filter_arrays(result, final_stage[present], rows, s_at, s_kind, s_stage, s_conf)
    review = reviewed_stage[present]
    result.reviewed = review >= 0
    result.stage = np.where(result.reviewed, review, result.stage)
    result.needs_review &= ~result.reviewed
    return result


def _filter_arrays(result: FusedArrays, final: np.ndarray, rows: np.ndarray, at: np.ndarray, kind: np.ndarray,
                   stage: np.ndarray, confidence: np.ndarray) -> None:
    """:func:`_filter` for every element at once, writing into ``result``. ``final``: (n,) each
    result row's final stage; the other arrays: (m',) seen observations sorted by (row, time, …)."""
    n_states = result.reached_at.shape[1] + 1
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, len(rows)])
    result.first_seen[rows[starts]] = at[starts]
    result.last_seen[rows[starts]] = at[starts + lengths - 1]
    same_element = np.r_[False, rows[1:] == rows[:-1]]
    days = np.zeros(len(rows))
    days[1:] = (at[1:] - at[:-1]).astype(np.int64) / DAY_US
    days[~same_element] = 0.0
    likelihood = _likelihoods(kind, stage, confidence, n_states)
    start, exactly, at_least, rework = _gap_terms(days, n_states)
    publish = np.r_[(rows[1:] != rows[:-1]) | (at[1:] != at[:-1]), True]

    by_length = np.argsort(-lengths, kind="stable")  # step k touches a prefix: elements with > k observations
    group_start, group_row = starts[by_length], rows[starts][by_length]
    fin = final[group_row]
    active = np.searchsorted(-lengths[by_length], -np.arange(int(lengths.max())), side="left")
    states = np.arange(n_states)
    below_final = states[None, :] < fin[:, None]
    at_final = states[None, :] == fin[:, None]
    prior = np.where(states[None, :] == 0, PRIOR_NOT_STARTED,
                     np.where(states[None, :] <= fin[:, None], (1.0 - PRIOR_NOT_STARTED) / fin[:, None], 0.0))
    g = len(group_start)
    belief = np.zeros((g, n_states))
    above = np.zeros((g, n_states))
    above[:, 0] = 1.0
    published = np.zeros(g, dtype=np.int64)
    held = np.zeros(g, dtype=np.int64)
    since = np.full((g, n_states), np.datetime64("NaT"), dtype="datetime64[us]")
    for k, count in enumerate(active.tolist()):
        index = group_start[:count] + k
        if k == 0:
            predicted = prior
        else:
            b, ex, al = belief[:count], exactly[index], at_least[index]
            lt, eq = below_final[:count], at_final[:count]
            predicted = np.empty((count, n_states))
            starts_now = start[index]
            for t in range(n_states):
                # j stages advanced into state t: Poisson below the final stage, its tail at it, 0 beyond.
                advance = [np.where(lt[:, t], ex[:, j], np.where(eq[:, t], al[:, j], 0.0)) for j in range(t + 1)]
                acc = b[:, 0] * (1.0 - starts_now) if t == 0 else b[:, 0] * (starts_now * advance[t - 1])
                for s in range(1, t + 1):
                    acc = acc + b[:, s] * advance[t - s]
                predicted[:, t] = acc
            moved = np.zeros(count)
            for t in range(1, n_states):
                moved = moved + predicted[:, t]
            r = rework[index]
            keep = 1.0 - r
            predicted[:, 0] = predicted[:, 0] + r * moved
            predicted[:, 1:] = predicted[:, 1:] * keep[:, None]
        new = predicted * likelihood[index]
        total = np.zeros(count)
        for t in range(n_states):
            total = total + new[:, t]
        belief[:count] = new / total[:, None]
        done = publish[index]
        if not done.any():
            continue
        upper = np.zeros(count)
        fresh = above[:count].copy()
        for s in range(n_states - 1, 0, -1):
            upper = upper + belief[:count, s]
            fresh[:, s] = upper
        above[:count] = np.where(done[:, None], fresh, above[:count])
        stage_now = (fresh[:, 1:] - PUBLISH > TIE).sum(axis=1)
        held_now = (fresh[:, 1:] >= HELD).sum(axis=1)
        held[:count] = np.where(done, np.maximum(held[:count], held_now), held[:count])
        reached = states[None, :] <= stage_now[:, None]
        newly = reached & (states[None, :] > published[:count, None])
        run = np.where(newly, at[index][:, None], since[:count])
        run[~reached] = np.datetime64("NaT")
        since[:count] = np.where(done[:, None], run, since[:count])
        published[:count] = np.where(done, stage_now, published[:count])
    rows_out = group_row
    result.stage[rows_out] = published
    last = np.arange(g)
    result.probability[rows_out] = np.where(published > 0, above[last, published], belief[:, 0])
    result.reached_at[rows_out] = since[:, 1:]
    result.needs_review[rows_out] = (held >= 1) & (above[last, held] < DOUBT)
