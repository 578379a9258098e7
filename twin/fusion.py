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
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

INSTALLED = "installed"
ABSENT = "absent"
NOT_VISIBLE = "not_visible"
KINDS = (INSTALLED, ABSENT, NOT_VISIBLE)

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
