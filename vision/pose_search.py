"""Pose search: refine a frame's pose around its prior by render-and-compare against the twin.

The element boundaries of the believed-built twin, rendered from a candidate pose, should fall on
edges of the photograph. Each candidate is scored by the mean (truncated) distance from its
rendered boundary pixels to the nearest image edge (a Canny edge map's distance transform), plus
how unlikely the pose is under the prior (:func:`prior_penalty`), and a coarse-to-fine search over
x, y and yaw, then pitch and roll, around the prior keeps the best (:func:`refine_pose`); a
continuous search over all six parameters at once (:func:`polish_pose`) finishes it, height
included. Pitch and roll stay within a few degrees of the prior (a helmet camera's IMU knows the
vertical well).

Frames: world metres, radians, panorama pixels as in :mod:`vision.equirect`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.optimize import minimize

from vision.equirect import direction_to_pixel, world_rays
from vision.pose import Pose, rotation_matrix
from vision.visibility import WORK_WIDTH

#: Edge-distance truncation (pixels at WORK_WIDTH): boundaries farther than this from any edge
#: are outliers (unbuilt or unmodelled things), not evidence of a bad pose.
EDGE_TRUNCATION = 6.0
#: The pose search samples the edge map this many pixels right of and below each projected
#: boundary point. At 0 every refined yaw was off the same way, +0.35° on average (half a pixel
#: at WORK_WIDTH). Chosen by bench/pose.py on the tuning layouts by the lower median position
#: error (p90 to break a tie within 0.1 cm). On 160 frames (median / p90 cm, median °): 0 gave
#: 3.1 / 26.0 / 0.35°, 0.25 gave 3.2 / 31.0 / 0.19°, 0.5 gave 3.2 / 22.5 / 0.19°: a tie that
#: 200 frames of longer walks broke, 0.25 giving 2.8 / 30.4 / 0.22° and 0.5 3.0 / 32.8 / 0.17°.
#: Why the frames' edges sit there is not settled: with every element rendered, edge map and
#: boundaries agree at no shift, but the score rises twice as fast to the left of the truth as to
#: the right, and with only what is believed built rendered (as registration does) its minimum
#: moves right.
EDGE_SHIFT = 0.25
#: Candidates per coarse search level re-rendered to choose the next centre. Chosen on the tuning
#: layouts 913/917 (as the detector threshold is): 2 instead of 4 scored median 3.9/3.6 cm (was
#: 4.5/3.3) and p90 10/11 cm (was 16/15) at 0.03 s less CPU a frame.
TOP_K = 2
#: The pose prior a helmet camera's tracking gives: standard deviation of its position (metres)
#: and yaw (radians).
PRIOR_SIGMA_M = 0.3
PRIOR_SIGMA_YAW = math.radians(5.0)
#: ... and of its pitch and roll (radians): the IMU's gravity direction. Without this term in the
#: prior a tilt step was free, and the first search level (1.5° steps, coarse truncation) sometimes
#: took one the wrong way that the finer levels' halving steps could not undo, so the position
#: was fitted to a tilted camera. Chosen by bench/pose.py on the tuning layouts (200 frames; median
#: / p90 cm, median °) by the lower median, p90 breaking a tie within 0.1 cm: no tilt term 2.8 /
#: 37.3 / 0.22°, 0.5° 3.5 / 35.9, 1° 2.6 / 29.2 / 0.19°, 2° 2.6 / 36.1 (the simulator's IMU is 1°).
PRIOR_SIGMA_TILT = math.radians(1.0)
#: ... and of its height (metres; the simulator's σ), which only the final polish
#: (:func:`polish_pose`) moves.
PRIOR_SIGMA_Z = 0.05
#: Score evaluations the final continuous refinement (:func:`polish_pose`) may spend; 0 turns it off.
#: bench/pose.py on the tuning layouts (200 frames; median / p90 cm, median °, CPU s a frame): none
#: 2.2 / 18.7 / 0.17° at 0.37 s, 150 1.4 / 17.2 / 0.13°, 300 1.25 / 17.2 / 0.12° at 0.41 s, 600
#: 1.23 / 17.2 / 0.12° at 0.42 s: 300 and 600 tie, so the cheaper.
POLISH_EVALS = 300
#: Its units: a unit step moves the camera 1 cm or turns it 0.2°.
POLISH_SCALE = np.array([0.01, 0.01, 0.01, math.radians(0.2), math.radians(0.2), math.radians(0.2)])
#: Weight of the prior in a pose's score, in pixels of mean edge distance per σ² of departure: the
#: search maximises edge agreement and the prior's likelihood together (a MAP estimate), so a frame
#: with few elements to anchor on does not wander a metre off to the nearest wrong edges. Chosen
#: with :data:`COARSE_TRUNCATION` by bench/pose.py on tuning layouts (913, 917, gable 953, steel
#: 959, steel gable 961; 160 frames): 0.05 with 12 px took the pose error from median 3.6 / p90
#: 54 cm (0.02, 24 px) to 3.3 / 31 cm; 0.1 gave 3.8 / 26 cm (it pulls good poses towards the
#: prior). It does not cure an attic: its rafters, alike and 0.9 m apart, still pull about a third
#: of attic frames one rafter along, mostly because the search misses the truth's basin. Re-run
#: with tile-space box matching (200 frames, best truncation each): 0.02 2.3 / 22.1, 0.05 2.2 /
#: 17.1, 0.1 2.9 / 22.8 cm.
PRIOR_WEIGHT = 0.05


def edge_distance(image: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    """(H, W) float32 distance (pixels) from each pixel to the nearest edge of the RGB frame at ``width``."""
    small = cv2.resize(image, (width, width // 2), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0.8), 30, 90)
    return cv2.distanceTransform(255 - edges, cv2.DIST_L2, 3)


def boundaries(element: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose element id differs from their right or lower neighbour."""
    edge = np.zeros(element.shape, bool)
    edge[:, :-1] |= element[:, 1:] != element[:, :-1]
    edge[:-1, :] |= element[1:, :] != element[:-1, :]
    edge[:, -1] |= element[:, 0] != element[:, -1]  # the panorama wraps left/right
    return edge


#: Pose-search levels whose candidates are re-rendered at half the working width.
COARSE_LEVELS = 3
#: Edge-distance truncation (pixels) of the first search level; it halves level by level down to
#: :data:`EDGE_TRUNCATION`. 24 px is about 17° at the working width. bench/pose.py on the tuning
#: layouts (200 frames; median / p90 cm), re-run when detections began to be matched to elements
#: in their tiles (which changed the anchors): 24 px 2.18 / 17.1, 12 px 2.21 / 18.9, a tie on the
#: median that the p90 breaks. 12 px had been chosen before, with the panorama-box association
#: (prior weight 0.02: p90 54 cm at 24 px against 41 cm at 12). On two real models it had cut both
#: ways then: webifc_example's median 16.6 cm at 12 px against 4.4 cm at 24, FZK-Haus's 6.4 cm
#: against 14.1 (docs/accuracy.md).
COARSE_TRUNCATION = 24.0
#: Boundary points a pose is scored with, at most: an even subsample scores like all of them
#: (the score is a mean) at a fraction of the projections the pose search makes.
MAX_SCORE_POINTS = 2000
#: Fewer boundary points than this at the working width (one small element, say) are too few to
#: anchor a pose on: the search would fit them anywhere, so the prior is kept.
MIN_ANCHOR_POINTS = 300


def boundary_points(scene, pose: Pose, width: int) -> np.ndarray:
    """(K, 3) world points on element boundaries seen from ``pose`` (the pixel left of or above
    each edge), evenly subsampled to at most :data:`MAX_SCORE_POINTS`.

    At :data:`WORK_WIDTH` and wider, every other pixel is cast first and only the pixels within
    one such sample of a boundary between them are cast at full width (about 15 % of them): the
    same points but for boundaries of things thinner than two pixels, with 0.4 of the rays.
    """
    origin, directions = world_rays(pose, width)
    if width < WORK_WIDTH:
        hits = scene.cast(origin, directions)
        element, distance = hits.element, hits.distance
    else:
        coarse = scene.cast(origin, directions[::2, ::2])
        near = cv2.dilate(boundaries(coarse.element).astype(np.uint8), np.ones((3, 3), np.uint8))
        cast = np.repeat(np.repeat(near, 2, axis=0), 2, axis=1).astype(bool)
        element = np.repeat(np.repeat(coarse.element, 2, axis=0), 2, axis=1)
        distance = np.full(element.shape, np.inf, np.float32)
        fine = scene.cast(origin, directions[cast])
        element[cast], distance[cast] = fine.element, fine.distance
    edge = boundaries(element) & np.isfinite(distance)
    count = int(edge.sum())
    stride = -(-count // MAX_SCORE_POINTS) if count else 1
    return origin + directions[edge][::stride] * distance[edge][::stride, None]


def points_score(points: np.ndarray, pose: Pose, distance: np.ndarray,
                 truncation: float = EDGE_TRUNCATION, shift: float = 0.0) -> float:
    """Mean truncated edge distance at the projections of ``points`` from ``pose`` (lower is better)."""
    return float(points_scores(points, [pose], distance, truncation, shift)[0])


def points_scores(points: np.ndarray, poses: list[Pose], distance: np.ndarray,
                  truncation: float = EDGE_TRUNCATION, shift: float = 0.0) -> np.ndarray:
    """(C,) :func:`points_score` of the same points from each of ``poses``, in one vectorised pass.

    The distance map is sampled bilinearly (wrapping left/right) ``shift`` pixels right of and
    below each projection (:data:`EDGE_SHIFT`), so a pose is scored to a fraction of a pixel;
    float32 throughout.
    """
    if not len(points):
        return np.full(len(poses), truncation)
    height, width = distance.shape
    params = np.array([p.as_list() for p in poses])
    positions = params[:, :3].astype(np.float32)
    rotations = rotation_matrix(params[:, 3], params[:, 4], params[:, 5]).astype(np.float32)
    # (C, K, 3): world → camera for every pose at once
    camera = np.matmul(points.astype(np.float32)[None] - positions[:, None, :], rotations)
    u, v = direction_to_pixel(camera, width)
    if shift:
        u, v = u + np.float32(shift), v + np.float32(shift)
    sampled = cv2.remap(np.asarray(distance, np.float32), u, np.clip(v, 0, height - 1), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_WRAP)
    return np.minimum(sampled, truncation).mean(axis=1, dtype=np.float64)


def prior_penalty(poses: list[Pose], prior: Pose) -> np.ndarray:
    """(C,) :data:`PRIOR_WEIGHT` × squared departure of each pose from ``prior`` in σ units
    (x and y in :data:`PRIOR_SIGMA_M`, yaw in :data:`PRIOR_SIGMA_YAW`, pitch and roll in
    :data:`PRIOR_SIGMA_TILT`, height in :data:`PRIOR_SIGMA_Z`)."""
    offsets = np.array([(p.x - prior.x, p.y - prior.y, p.yaw - prior.yaw, p.pitch - prior.pitch,
                         p.roll - prior.roll, p.z - prior.z) for p in poses])
    yaw = np.remainder(offsets[:, 2] + math.pi, math.tau) - math.pi
    squared = (np.square(offsets[:, :2]).sum(axis=1) / PRIOR_SIGMA_M ** 2 + np.square(yaw / PRIOR_SIGMA_YAW)
               + np.square(offsets[:, 3:5]).sum(axis=1) / PRIOR_SIGMA_TILT ** 2
               + np.square(offsets[:, 5] / PRIOR_SIGMA_Z))
    return PRIOR_WEIGHT * squared


def refine_pose(scene, start: Pose, distance: np.ndarray, prior: Pose | None = None, step_m: float = 0.3,
                step_deg: float = 4.0, levels: int = 6, coarse_levels: int = COARSE_LEVELS,
                shift: float | None = None, polish: bool = True) -> tuple[Pose, float, float]:
    """Coarse-to-fine search from ``start``; returns (pose, score, score of ``start``).

    Each level scores candidates by projecting the 3D boundary points rendered at the current
    best pose (model-based tracking) on the edge-distance map, plus :func:`prior_penalty` from
    ``prior`` (default: ``start``): x, y and yaw on a 5×5×5 grid (±2 steps), then pitch and roll.
    On the first ``coarse_levels`` levels (by default those whose steps are 7 cm and more) what is
    visible changes with the pose, so the best few are re-rendered, at half width, to choose; the
    fine levels project one full-width rendering of the boundaries (a few centimetres do not change
    what is visible). Steps halve and the edge-distance truncation tightens level by level, so
    early levels see a wide, smooth basin. :func:`polish_pose` ends the search.

    The scores returned are edge distances alone (pixels), without the prior's penalty. With
    fewer than :data:`MIN_ANCHOR_POINTS` boundary points in view, ``start`` is returned.
    ``shift``: where to sample the map, as :func:`points_scores` says (default :data:`EDGE_SHIFT`).
    ``polish``: end with :func:`polish_pose` (millimetres; a score to compare places does without).
    """
    prior = prior or start
    shift = EDGE_SHIFT if shift is None else shift
    width = distance.shape[1]
    # One render per pose: its boundary points give its score at any truncation and, for the best
    # pose, the points the next level projects.
    points = boundary_points(scene, start, width)
    start_score = points_score(points, start, distance, shift=shift)
    best = start
    if len(points) < MIN_ANCHOR_POINTS:  # one small element fits almost any pose: keep the start
        return start, start_score, start_score
    step_rad, tilt = math.radians(step_deg), math.radians(1.5)
    for level in range(levels):
        truncation = max(EDGE_TRUNCATION, COARSE_TRUNCATION / 2 ** level)
        coarse = level < coarse_levels
        if level == coarse_levels and best is not start:
            points = boundary_points(scene, best, width)
        best_score = (points_score(points, best, distance, truncation, shift)
                      + prior_penalty([best], prior)[0])
        chosen = points
        candidates = [Pose(best.x + dx * step_m, best.y + dy * step_m, best.z, best.yaw + dyaw * step_rad,
                           best.pitch, best.roll)
                      for dx in (-2, -1, 0, 1, 2) for dy in (-2, -1, 0, 1, 2) for dyaw in (-2, -1, 0, 1, 2)]
        scores = (points_scores(chosen, candidates, distance, truncation, shift)
                  + prior_penalty(candidates, prior))
        for index in np.argsort(scores, kind="stable")[:TOP_K if coarse else 1]:
            centre = candidates[int(index)]
            tilts = [Pose(centre.x, centre.y, centre.z, centre.yaw, centre.pitch + dp * tilt,
                          centre.roll + dr * tilt) for dp in (-1, 0, 1) for dr in (-1, 0, 1)]
            tilt_scores = (points_scores(chosen, tilts, distance, truncation, shift)
                           + prior_penalty(tilts, prior))
            candidate, score = tilts[int(np.argmin(tilt_scores))], float(tilt_scores.min())
            rendered = points
            if coarse:  # re-rendered, at half width: what is visible changes with the pose
                rendered = boundary_points(scene, candidate, width // 2)
                score = (points_score(rendered, candidate, distance, truncation, shift)
                         + prior_penalty([candidate], prior)[0])
            if score < best_score:
                best, best_score, points = candidate, score, rendered
        step_m /= 2.0
        step_rad /= 2.0
        tilt /= 2.0
    if polish:
        best = polish_pose(points, best, distance, prior, shift)
    return best, points_score(points, best, distance, shift=shift), start_score


def polish_pose(points: np.ndarray, pose: Pose, distance: np.ndarray, prior: Pose, shift: float) -> Pose:
    """``pose`` refined in all six parameters at once by Powell's method (scipy), minimising the
    edge score of ``points`` at :data:`EDGE_TRUNCATION` plus :func:`prior_penalty`.

    The grid search moves x, y and yaw, then pitch and roll, in halving steps, and height not at
    all; where they trade off (a rafter overhead shifts alike when the camera moves or tilts), it
    stops short of the minimum. Never returns a pose that scores worse than ``pose``.
    """
    if not POLISH_EVALS:
        return pose
    start = np.array(pose.as_list())

    def total(u: np.ndarray) -> float:
        candidate = Pose.from_list(start + u * POLISH_SCALE)
        return (points_score(points, candidate, distance, EDGE_TRUNCATION, shift)
                + float(prior_penalty([candidate], prior)[0]))

    result = minimize(total, np.zeros(6), method="Powell",
                      options=dict(xtol=0.1, ftol=1e-4, maxfev=POLISH_EVALS))
    return Pose.from_list(start + result.x * POLISH_SCALE) if result.fun < total(np.zeros(6)) else pose
