"""Global localisation: a walk's poses found against the twin, without a pose prior.

A 360° camera knows gravity, not where it is in the model. A storey that one can stand on is
covered by a grid of standing points (:func:`vision.simulate.free_points` over its floor in the
state *expected* on the capture date); from each, the expected twin is rendered at helmet height
and its element boundaries kept (:func:`storey_layout`, once per model revision and expected
state: the caller caches it). A frame is compared through its edges, as registration does
(:mod:`vision.pose_search`): a place scores the mean (truncated) distance from its rendered
boundaries to the nearest edge of the frame.

In an equirectangular panorama a turn about the vertical is a circular shift of the columns, so
one FFT cross-correlation per standing point scores every heading at once; the best standing
points are refined by projecting their boundary points from poses around them, re-rendered from
where they end up (:func:`frame_hypotheses`), and the best few confirmed by registration's own
pose search on the full frame (:func:`confirm_hypotheses`), which is what tells the true place
from look-alikes. A Viterbi pass over the walk (:func:`localise_walk`) keeps the sequence that is
both well matched and continuous at walking pace, with "elsewhere" (none of the places found) as a
place of its own, and says of each frame by how much its choice beats the best place more than
:data:`DISTINCT_M` away, or elsewhere (max-marginals): a frame whose choice does not win by
:data:`MIN_MARGIN` is not localised, never guessed.

The storey is an input, not a finding: storeys of one design look alike from inside, and these
edges cannot tell them apart (:mod:`webapp.services.localisation` says where it comes from).

Frames: world metres, radians (yaw about +z, as :class:`vision.pose.Pose`), panorama pixels as in
:mod:`vision.equirect`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from twin.model import Twin
from vision.equirect import camera_directions
from vision.pose import Pose
from vision.pose_search import (
    boundaries,
    boundary_points,
    edge_distance,
    points_scores,
    refine_pose,
)
from vision.simulate import HELMET, floors, free_points, storey_extent

#: Width (pixels) of a frame's edge map, and of the renders that verify a place.
RENDER_WIDTH = 256
#: Width (pixels) of the panoramas rendered at the standing points (the first, coarse search).
LAYOUT_WIDTH = 128
#: Metres between standing points: a place is first found at the nearest one, whose view must
#: still resemble the frame's (0.5 m lost the truth among the first candidates on a quarter of
#: the frames of the training buildings).
STANDING_STEP = 0.25
#: Rows of the panorama compared, as a share of its height kept from each pole: near the poles an
#: equirectangular panorama smears a few pixels over its whole width.
POLE_MARGIN = 0.1
#: Edge-distance truncation (pixels): a boundary farther than this from any edge
#: of the frame is something not built (or not modelled), not evidence against the place.
TRUNCATION = 8.0
#: Boundary points kept per standing point (an even subsample) for the local refinement.
POINTS_PER_PLACE = 400
#: Standing points rendered per batch of rays (memory: points × LAYOUT_WIDTH² / 2 rays).
BATCH = 32
#: Standing points refined per storey and frame, best first, at least :data:`DISTINCT_M` apart.
CANDIDATES = 30
#: Headings kept per standing point from the FFT scores (local minima at least
#: :data:`HEADING_GAP` radians apart).
HEADINGS_PER_PLACE = 3
HEADING_GAP = math.radians(30.0)
#: Places per frame rendered again and refined from their own view (:func:`_verify`), in how
#: many rounds, with what steps (metres).
VERIFIED = 12
VERIFY_ROUNDS = 1
VERIFY_STEP_M = 0.1
VERIFY_STEP_Z = 0.1
#: Hypotheses per frame confirmed by registration's pose search (:func:`confirm_hypotheses`), and
#: its settings: the fine levels only (verified places are within about 10 cm and a degree), no
#: final polish (registration polishes the place chosen).
CONFIRMED = 3
CONFIRM_SEARCH = dict(step_m=0.075, step_deg=1.0, levels=4, coarse_levels=0, polish=False)
#: A confirmed place whose edge score (pixels at registration's working width) is worse than this
#: does not explain the frame (the truth scored 0.55-1.0 px on the training buildings).
MAX_CONFIRMED_SCORE = 1.5
#: Hypotheses kept per frame, over all storeys.
HYPOTHESES = 24
#: Places closer than this (metres) are one place for the hypotheses and the margin.
DISTINCT_M = 1.0
#: Local refinement of a standing point: offsets in x and y (metres) and heading (steps of
#: 360° / RENDER_WIDTH) tried around it, projecting its boundary points (no new rendering).
REFINE_OFFSETS_M = np.linspace(-0.15, 0.15, 5)
REFINE_YAW_STEPS = (-2, -1, 0, 1, 2)
#: Fewer boundary points than this seen from a standing point cannot tell places apart: it is
#: not a hypothesis (the mean distance of a handful of points is low anywhere).
MIN_POINTS = 100
#: Emission: log-likelihood per pixel of a confirmed place's edge score.
SCORE_SCALE = 20.0
#: Transition: a walker covers at most :data:`WALK_SPEED` m/s plus :data:`STEP_SLACK_M`;
#: farther steps cost :data:`STEP_PENALTY` log-likelihood per m².
WALK_SPEED = 1.4
STEP_SLACK_M = 0.5
STEP_PENALTY = 2.0
#: Log-likelihood of changing storey between two frames (a stair climbed mid-walk is rare).
STOREY_CHANGE = 30.0
#: A frame's choice must beat the best distinct alternative, and "elsewhere", by this much
#: log-likelihood. On walks of two training buildings (seeds 301 and 302; 152 frames, storey
#: given, the IMU's gravity): 2 localised 57 % and 60 % of the frames, 3 wrongly (2.6 to 6.2 m or
#: 180° off); 3 54 % and 57 %, 3 wrongly; 4 (chosen) 51 % and 51 %, none wrongly; 5 44 % and 47 %.
MIN_MARGIN = 4.0

#: Why a frame is not localised when no place explains it better than "somewhere else".
NO_PLACE = "no place where one can stand in the twin matches it well enough"


@dataclass
class StoreyLayout:
    """A storey's standing points and what the expected twin looks like from each (yaw 0).

    points: (G, 2) world x, y (metres); height: camera z (metres); spectra: (G, R, K) complex64,
    the column-wise FFT of each standing point's boundary map (rows :func:`compared_rows`, sum 1);
    boundary: (M, 3) float32 world points on element boundaries, standing point g's being
    ``boundary[offsets[g]:offsets[g + 1]]``."""

    storey: str
    elevation: float
    height: float
    points: np.ndarray
    spectra: np.ndarray
    boundary: np.ndarray
    offsets: np.ndarray


@dataclass(frozen=True)
class Hypothesis:
    """One candidate place of a frame: storey, pose and its score (mean truncated distance in
    pixels from the place's element boundaries to the frame's edges, lower is better)."""

    storey: str
    pose: Pose
    score: float


@dataclass(frozen=True)
class Localisation:
    """The pose a frame was localised at (None: not localised, ``reason`` says why), its storey,
    its score and its margin over the best distinct alternative (log-likelihood)."""

    pose: Pose | None
    storey: str | None
    score: float
    margin: float
    reason: str | None = None


def compared_rows(height: int) -> slice:
    """The rows of a panorama ``height`` pixels high that localisation compares."""
    margin = int(round(height * POLE_MARGIN))
    return slice(margin, height - margin)


def frame_distance(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 truncated distance (pixels) to the nearest edge of an RGB equirectangular
    frame reduced to :data:`RENDER_WIDTH` (0 on the edges themselves)."""
    return np.minimum(edge_distance(image, RENDER_WIDTH), TRUNCATION)


def storey_layout(twin: Twin, scene, expected: np.ndarray, storey: str) -> StoreyLayout | None:
    """What ``storey`` (GlobalId) looks like from each of its standing points with the twin in
    the ``expected`` state ((N,) stage per element; > 0 is there). ``scene``: a
    :class:`vision.render.RenderScene`. None where the storey has nowhere to stand in that state."""
    built = scene.scene(expected)
    lo, hi, elevation = storey_extent(twin, storey)
    points = free_points(built, lo, hi, elevation, floors(twin), STANDING_STEP)
    if not len(points):
        return None
    height = elevation + sum(HELMET) / 2
    directions = camera_directions(LAYOUT_WIDTH)
    rows = compared_rows(directions.shape[0])
    keep_rows = np.zeros(directions.shape[0], bool)
    keep_rows[rows] = True
    spectra, boundary, usable = [], [], []
    for start in range(0, len(points), BATCH):
        chunk = points[start:start + BATCH]
        origins = np.column_stack([chunk, np.full(len(chunk), height)]).astype(np.float32)
        hits = built.cast(origins[:, None, None, :], directions[None])
        for origin, element, distance in zip(origins, hits.element, hits.distance, strict=True):
            edge = boundaries(element) & np.isfinite(distance) & keep_rows[:, None]
            template = edge[rows].astype(np.float32)
            spectra.append(np.fft.rfft(template / max(template.sum(), 1.0), axis=1))
            found = origin + directions[edge] * distance[edge][:, None]
            found = found[::-(-len(found) // POINTS_PER_PLACE) or 1]
            boundary.append(found.astype(np.float32))
            usable.append(bool(edge.sum() >= MIN_POINTS // 2))
    keep = np.flatnonzero(usable)
    boundary = [boundary[g] for g in keep]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in boundary])]).astype(np.int64)
    return StoreyLayout(storey, elevation, height, points[keep], np.asarray(spectra, np.complex64)[keep],
                        np.concatenate(boundary) if boundary else np.zeros((0, 3), np.float32), offsets)


def frame_hypotheses(distance: np.ndarray, layouts: Sequence[StoreyLayout], built,
                     gravity: tuple[float, float] | None = None, count: int = HYPOTHESES) -> list[Hypothesis]:
    """The ``count`` best places of a frame over ``layouts``, best first, at least
    :data:`DISTINCT_M` apart on a storey. ``distance``: :func:`frame_distance` of the frame.

    Every standing point is scored at every heading at once (an FFT cross-correlation of its
    boundary map with the frame's edge distance: the mean distance at each column shift); the
    best :data:`CANDIDATES` per storey are refined by projecting their boundary points from
    nearby poses (:func:`vision.pose_search.points_scores`). Projected points do not see what a
    step hides or reveals, so the best :data:`VERIFIED` places are rendered again from where
    they ended up in ``built`` (the element scene the layouts were rendered from) and refined once
    more, height included, and scored from their own view (:func:`_verify`).

    gravity: the camera's (pitch, roll) in radians where known (zero otherwise)."""
    pitch, roll = gravity or (0.0, 0.0)
    factor = distance.shape[1] // LAYOUT_WIDTH
    coarse = cv2.resize(distance, (LAYOUT_WIDTH, LAYOUT_WIDTH // 2), interpolation=cv2.INTER_AREA) / factor
    spectrum = np.conj(np.fft.rfft(coarse[compared_rows(coarse.shape[0])], axis=1)).astype(np.complex64)
    width = LAYOUT_WIDTH
    step = math.tau / width
    found: list[Hypothesis] = []
    for layout in layouts:
        if not len(layout.points):
            continue
        # Σ template(r, c) · distance(r, c + s) for every shift s: one inverse FFT per standing point.
        correlation = np.fft.irfft(np.einsum("grk,rk->gk", layout.spectra, spectrum), n=width, axis=1)
        # A few headings per standing point: in a regular grid of bays the truth's heading and
        # its quarter turns score alike, and the local refinement tells them apart.
        shifts, scores = _best_shifts(correlation, HEADINGS_PER_PLACE, int(width * HEADING_GAP / math.tau))
        order = np.argsort(scores, axis=None, kind="stable")
        kept: list[tuple[int, int]] = []
        for flat in order:
            if len(kept) == CANDIDATES:
                break
            g, j = np.unravel_index(flat, scores.shape)
            if all(math.dist(layout.points[g], layout.points[k]) >= DISTINCT_M
                   or abs(math.remainder((shifts[g, j] - shifts[k, i]) * step, math.tau)) >= HEADING_GAP
                   for k, i in kept):
                kept.append((int(g), int(j)))
        for g, j in kept:
            x, y = layout.points[g]
            yaw = -step * shifts[g, j]
            candidates = [Pose(float(x + dx), float(y + dy), layout.height,
                               math.remainder(yaw + k * step / factor, math.tau), pitch, roll)
                          for dx in REFINE_OFFSETS_M for dy in REFINE_OFFSETS_M for k in REFINE_YAW_STEPS]
            points = layout.boundary[layout.offsets[g]:layout.offsets[g + 1]]
            refined = points_scores(points, candidates, distance, TRUNCATION)
            best = int(np.argmin(refined))
            found.append(Hypothesis(layout.storey, candidates[best], float(refined[best])))
    found.sort(key=lambda h: h.score)
    out = _distinct(found, count)
    verified = sorted((_verify(h, distance, built) for h in out[:VERIFIED]), key=lambda h: h.score)
    return _distinct([*verified, *out[VERIFIED:]], count)


def confirm_hypotheses(hypotheses: Sequence[Hypothesis], distance: np.ndarray, built,
                       count: int = CONFIRMED) -> list[Hypothesis]:
    """The best ``count`` of ``hypotheses`` refined by registration's pose search
    (:func:`vision.pose_search.refine_pose`) against the frame's full edge map ``distance``
    (:func:`vision.pose_search.edge_distance`) in ``built``, each scored as registration scores a
    pose (mean truncated edge distance, pixels at its working width), best first, distinct places.

    At the frame's true place the search converges to edges that fit to a pixel; at a place that
    only resembles it at the coarse search's resolution (a quarter turn in a grid of bays) it does
    not: on the training buildings the truth scored 0.55-1.0 px and the best wrong place 1.2-1.8 px
    when both were among the three confirmed. A place scoring worse than
    :data:`MAX_CONFIRMED_SCORE` is dropped: the frame is not where it was hoped."""
    confirmed = []
    for h in hypotheses[:count]:
        pose, score, _ = refine_pose(built, h.pose, distance, **CONFIRM_SEARCH)
        if score <= MAX_CONFIRMED_SCORE:
            confirmed.append(Hypothesis(h.storey, pose, score))
    return _distinct(sorted(confirmed, key=lambda h: h.score), count)


def _distinct(hypotheses: Sequence[Hypothesis], count: int) -> list[Hypothesis]:
    """The first ``count`` of ``hypotheses`` each at least :data:`DISTINCT_M` from those before
    it on its storey (in the order given)."""
    out: list[Hypothesis] = []
    for h in hypotheses:
        if len(out) == count:
            break
        if all(h.storey != o.storey or math.dist((h.pose.x, h.pose.y), (o.pose.x, o.pose.y)) >= DISTINCT_M
               for o in out):
            out.append(h)
    return out


def _verify(hypothesis: Hypothesis, distance: np.ndarray, built) -> Hypothesis:
    """``hypothesis`` refined from its own rendering: :data:`VERIFY_ROUNDS` times, the boundary
    points seen from its pose are projected from poses around it (x, y in :data:`VERIFY_STEP_M`,
    heading in steps of one column, height in :data:`VERIFY_STEP_Z`) and the best kept."""
    width = distance.shape[1]
    step = math.tau / width
    pose, score = hypothesis.pose, math.inf
    for _ in range(VERIFY_ROUNDS):
        points = boundary_points(built, pose, width)
        if len(points) < MIN_POINTS:
            return Hypothesis(hypothesis.storey, pose, TRUNCATION)
        offsets = (-VERIFY_STEP_M, 0.0, VERIFY_STEP_M)
        candidates = [Pose(pose.x + dx, pose.y + dy, pose.z + dz,
                           math.remainder(pose.yaw + k * step, math.tau), pose.pitch, pose.roll)
                      for dx in offsets for dy in offsets for k in (-1, 0, 1)
                      for dz in (-VERIFY_STEP_Z, 0.0, VERIFY_STEP_Z)]
        scores = points_scores(points, candidates, distance, TRUNCATION)
        best = int(np.argmin(scores))
        pose, score = candidates[best], float(scores[best])
    return Hypothesis(hypothesis.storey, pose, score)


def _best_shifts(correlation: np.ndarray, count: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(G, count) column shifts of the ``count`` lowest scores per row of ``correlation`` (G, W),
    each at least ``gap`` columns (circularly) from those before, and (G, count) their scores."""
    scores = correlation.copy()
    width = scores.shape[1]
    rows = np.arange(len(scores))
    columns = np.arange(width)
    shifts = np.empty((len(scores), count), np.int64)
    found = np.empty((len(scores), count))
    for j in range(count):
        shifts[:, j] = scores.argmin(axis=1)
        found[:, j] = scores[rows, shifts[:, j]]
        near = np.abs((columns[None, :] - shifts[:, j, None] + width // 2) % width - width // 2) < gap
        scores[near] = np.inf
    return shifts, found


def localise_walk(hypotheses: Sequence[Sequence[Hypothesis]], seconds: Sequence[float] | None = None,
                  start: tuple[str | None, Pose | None] | None = None,
                  near: Sequence[tuple[float, float, float] | None] | None = None) -> list[Localisation]:
    """One :class:`Localisation` per frame of a walk from its hypotheses (in frame order).

    seconds: each frame's time (s) since the first, which bounds how far the walker went between
    frames (default: 2 s apart). start: (storey, pose) given with the capture, a hint: the first
    frame's hypotheses are weighed by their distance from it (σ 1 m, and its heading if not None)."""
    n = len(hypotheses)
    if n == 0:
        return []
    times = np.asarray(seconds if seconds is not None else np.arange(n) * 2.0, float)
    # Each frame's places, and last "elsewhere" (none of them: the frame is where no hypothesis
    # is), which scores as a place at MAX_CONFIRMED_SCORE and walks anywhere for free.
    emission = [np.array([-SCORE_SCALE * h.score for h in hyps] + [-SCORE_SCALE * MAX_CONFIRMED_SCORE])
                for hyps in hypotheses]
    if start is not None and hypotheses[0]:
        emission[0][:-1] += _start_prior(hypotheses[0], *start)
    for t, expected in enumerate(near or ()):
        if expected is not None and len(hypotheses[t]):
            x, y, sigma = expected
            offsets = np.array([math.hypot(h.pose.x - x, h.pose.y - y) for h in hypotheses[t]])
            emission[t][:-1] -= 0.5 * np.square(offsets / sigma)
    steps = [_transition(hypotheses[t], hypotheses[t + 1], times[t + 1] - times[t]) for t in range(n - 1)]
    # Forward (best score of a path ending at each place) and backward passes.
    forward = [emission[0]]
    for t in range(1, n):
        forward.append((forward[-1][:, None] + steps[t - 1]).max(axis=0) + emission[t])
    backward = [np.zeros(len(e)) for e in emission]
    for t in range(n - 2, -1, -1):
        backward[t] = (steps[t] + (emission[t + 1] + backward[t + 1])[None, :]).max(axis=1)
    out = []
    for t, hyps in enumerate(hypotheses):
        marginal = forward[t] + backward[t]  # best whole-walk score through each place
        elsewhere = marginal[-1]
        if not hyps or marginal[:-1].max() <= elsewhere:
            out.append(Localisation(None, None, 0.0, float(elsewhere - marginal.max()), NO_PLACE))
            continue
        best = int(marginal[:-1].argmax())
        chosen = hyps[best]
        rivals = [marginal[k] for k, h in enumerate(hyps)
                  if h.storey != chosen.storey
                  or math.hypot(h.pose.x - chosen.pose.x, h.pose.y - chosen.pose.y) >= DISTINCT_M]
        margin = float(marginal[best] - max([*rivals, elsewhere]))
        if margin < MIN_MARGIN:
            out.append(Localisation(None, chosen.storey, chosen.score, margin,
                                    f"ambiguous: its best place wins by {margin:.1f} log-likelihood, less "
                                    f"than {MIN_MARGIN:g}, over another place or none of them"))
        else:
            out.append(Localisation(chosen.pose, chosen.storey, chosen.score, margin))
    return out


def _transition(before: Sequence[Hypothesis], after: Sequence[Hypothesis], seconds: float) -> np.ndarray:
    """(len(before) + 1, len(after) + 1) log-likelihood of walking from each place to each, the
    last row and column being "elsewhere" (free to and from anywhere)."""
    out = np.zeros((len(before) + 1, len(after) + 1))
    if before and after:
        a = np.array([[h.pose.x, h.pose.y] for h in before])
        b = np.array([[h.pose.x, h.pose.y] for h in after])
        distance = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
        reach = WALK_SPEED * max(float(seconds), 0.0) + STEP_SLACK_M
        cost = STEP_PENALTY * np.square(np.maximum(distance - reach, 0.0))
        other = np.array([h.storey for h in before])[:, None] != np.array([h.storey for h in after])[None, :]
        out[:-1, :-1] = -(cost + STOREY_CHANGE * other)
    return out


def _start_prior(hyps: Sequence[Hypothesis], storey: str | None, pose: Pose | None) -> np.ndarray:
    prior = np.zeros(len(hyps))
    for k, h in enumerate(hyps):
        if storey is not None and h.storey != storey:
            prior[k] -= STOREY_CHANGE
        if pose is not None:
            prior[k] -= 0.5 * ((h.pose.x - pose.x) ** 2 + (h.pose.y - pose.y) ** 2)
            if pose.yaw is not None and math.isfinite(pose.yaw):
                prior[k] -= 0.5 * (math.remainder(h.pose.yaw - pose.yaw, math.tau) / math.radians(20)) ** 2
    return prior
