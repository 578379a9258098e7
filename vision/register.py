"""Register a frame to the twin: refine its pose, project the elements, and make observations.

1. **Pose refinement** by render-and-compare: the element boundaries of the believed-built twin,
   rendered from a candidate pose, should fall on edges of the photograph. Each candidate is
   scored by the mean (truncated) distance from its rendered boundary pixels to the nearest image
   edge (a Canny edge map's distance transform), plus how unlikely the pose is under the prior
   (:func:`prior_penalty`), and a coarse-to-fine search over x, y and yaw, then pitch and roll,
   around the prior keeps the best; a continuous search over all six parameters at once
   (:func:`polish_pose`) finishes it, height included. Pitch and roll stay within a few degrees
   of the prior (a helmet camera's IMU knows the vertical well).
2. **Projection with occlusion**: at the refined pose, rays pass through elements not believed
   built and stop at the first one believed built; every element met on the way is visible at
   that pixel. Occlusion counts only elements believed built (the fused status, plus what this
   frame's detections support); an unbuilt wall hides nothing from the detector. An element is
   judged absent only on the pixels where it is the nearest element: behind one not believed
   built it may be hidden (that one may be built and missed), so there it is never "absent".
3. **Association and observations**: a detection supports an element of a compatible class when
   it covers most of the element's visible pixels (surfaces: walls, slabs, ceilings may share one
   detection) or, for discrete objects, when their boxes overlap one-to-one; and it supports the
   element of its class whose box it fits best (IoU ≥ :data:`BOX_MATCH_IOU`), which finds the wall
   seen through an unbuilt one in front. Boxes are compared in the tile the detector saw the
   element in (:func:`element_tile_boxes`): straight members off the horizon are curves in the
   panorama, and one crossing its seam or passing overhead spans its whole width. Every element that
   could have been seen gets one observation: installed at the detected stage, absent (enough of
   it nearest in view, nothing detected), or not visible (too few pixels, too far, or its box fits a detection
   that went to a neighbour of its class: rafters in a row seen end-on have nearly one box, and the
   detector keeps one box for them) — which is no evidence.

Frames: world metres, radians, panorama pixels as in :mod:`vision.equirect`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import minimize

from twin import taxonomy
from twin.fusion import ABSENT, INSTALLED, NOT_VISIBLE
from twin.model import Twin
from vision.boxes import box_iou, pixel_bounds
from vision.calibrate import calibrate
from vision.detect import Detection
from vision.equirect import direction_to_pixel, world_rays
from vision.pose import Pose, rotation_matrix
from vision.render import RenderScene
from vision.tiles import TileGeometry, panorama_in_tile

#: Working width of the registration renders (pixels); the frame is resized to it.
WORK_WIDTH = 512
#: An element needs this share of the panorama's pixels to be expected visible (~0.05 % ≈ 65 px at 512).
MIN_VISIBLE_SHARE = 0.0005
#: ... and to be nearer than this (metres); farther elements are "not visible" (too small to judge).
#: An exterior wall 18 m away still covers ~900 px of a 1024-px frame and is found (15 m had left
#: such walls of the 4×2-bay layout never observed).
MAX_DISTANCE = 25.0
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
SURFACE_CLASSES = {"wall", "slab", "ceiling"}
#: Elements a ray may pass through (not believed built) before we stop following it. Early in a
#: project a ray up may cross a ceiling, a slab, another ceiling and a duct before the beam it sees.
MAX_LAYERS = 8
#: Width (pixels) at which the elements a frame's detections support are found, before and after
#: the pose search (:func:`supported`): they anchor the search and occlude in the final observation.
#: bench/pose.py on the tuning layouts (200 frames; median / p90 cm, median °, CPU a frame): 256
#: gives 2.75 / 31.1 / 0.23° at 0.27 s, 128 gave 2.65 / 30.5 / 0.21° at 0.24 s, a tie within the
#: 0.1 cm the rule allows and within run-to-run noise. 128 was tried on the reported layouts
#: (docs/accuracy.md) and broke 931's pose (4.0 → 5.4 cm) and 943's (6.7 → 15.9 cm), so it was
#: put back: a choice those layouts informed, said so in docs/benchmarks.md. A larger tuning set
#: should decide it, for its 11 % less CPU.
SUPPORT_WIDTH = 256
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
#: A detection also supports the element of its class whose box it matches best, at this
#: box IoU or more (the detector learnt boxes of elements' visible pixels; 0.5 is mAP50's criterion).
BOX_MATCH_IOU = 0.5
#: Confidence of an "absent" observation of an element fully in view of a fully reliable detector;
#: less in view, or a class the detector finds less reliably, moves it towards even odds (0.5).
ABSENT_CONFIDENCE = 0.75


@dataclass
class FrameObservation:
    """One frame's observation of one element (row in the twin), ready for :mod:`twin.fusion`."""

    row: int
    kind: str
    stage: int
    confidence: float
    visible_pixels: int
    region: tuple[float, float, float, float] | None


@dataclass
class RegistrationResult:
    """A registered frame: the refined pose, its score, and the observations."""

    pose: Pose
    prior: Pose
    score: float
    prior_score: float
    observations: list[FrameObservation] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-able data (a worker sends it to the one that stores the capture)."""
        return {"pose": self.pose.as_list(), "prior": self.prior.as_list(), "score": self.score,
                "prior_score": self.prior_score,
                "observations": [[o.row, o.kind, o.stage, o.confidence, o.visible_pixels,
                                  list(o.region) if o.region else None] for o in self.observations]}

    @classmethod
    def from_dict(cls, data: dict) -> RegistrationResult:
        observations = [FrameObservation(int(row), kind, int(stage), float(confidence), int(pixels),
                                         tuple(region) if region else None)
                        for row, kind, stage, confidence, pixels, region in data["observations"]]
        return cls(Pose.from_list(data["pose"]), Pose.from_list(data["prior"]), float(data["score"]),
                   float(data["prior_score"]), observations)


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
                shift: float | None = None) -> tuple[Pose, float, float]:
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


def _region_crop(element: np.ndarray, region, width: int) -> np.ndarray:
    """Element ids inside a panorama region at the id image's scale (wrap-aware)."""
    h, w = element.shape
    scale = w / width
    u0, v0, u1, v1 = (r * scale for r in region)
    rows = slice(max(int(math.floor(v0)), 0), min(int(math.ceil(v1)) + 1, h))
    first, last = int(math.floor(u0)), int(math.ceil(u1)) + 1
    if 0 <= first and last <= w:  # most regions do not cross the seam: a view, not a copy
        return element[rows, first:last]
    return element[rows][:, np.arange(first, last) % w]


def visibility_layers(scene: RenderScene, origin: np.ndarray, directions: np.ndarray, believed: np.ndarray,
                      max_layers: int = MAX_LAYERS) -> np.ndarray:
    """(L, H, W) element rows visible along each ray: every element met before the first one
    believed built (which is visible itself and stops the ray), nearer than :data:`MAX_DISTANCE`.

    Rays pass through elements not believed built: an unbuilt wall hides nothing. -1 fills the rest.
    Each pass casts only the rays still going, kept as compact arrays, at the triangles facing
    ``origin`` (:meth:`twin.scene.ElementScene.facing`): a pass enters the next closed element
    instead of leaving the last one.
    """
    full = scene.scene(None).facing(origin)
    shape = directions.shape[:-1]
    layers = np.full((max_layers, int(np.prod(shape))), -1, np.int32)
    ray = np.arange(layers.shape[1])  # which pixel each ray still going belongs to
    dirs = directions.reshape(-1, 3)
    start = np.broadcast_to(np.asarray(origin, np.float32), dirs.shape)
    travelled = np.zeros(len(ray), np.float32)
    last = np.full(len(ray), -1, np.int32)
    slot = np.zeros(len(ray), np.int32)
    for _ in range(max_layers * 3):  # a pass may re-hit the back face of the element just entered
        if not len(ray):
            break
        hits = full.cast(start, dirs)
        step = np.where(np.isfinite(hits.distance), hits.distance, 0.0)
        travelled += step
        hit = (hits.element >= 0) & (travelled <= MAX_DISTANCE)
        new = hit & (hits.element != last)
        layers[slot[new], ray[new]] = hits.element[new]  # a ray goes on only while it has a free slot
        slot += new
        last = np.where(hit, hits.element, last)
        go = hit & ~believed[np.maximum(hits.element, 0)] & (slot < max_layers)
        start = start[go] + dirs[go] * (step[go, None] + 1e-3)
        ray, dirs, travelled, last, slot = ray[go], dirs[go], travelled[go] + 1e-3, last[go], slot[go]
    return layers.reshape((max_layers,) + shape)


def element_boxes(flat: np.ndarray, rows: np.ndarray, n: int, width: int) -> np.ndarray:
    """(4, n) pixel box (u0, v0, u1, v1; exclusive ends) of each element over all visibility layers;
    elements not in view get an empty box (u0 > u1).

    flat, rows: the visibility layers' entries, as flat pixel index (``v · width + u``) and element
    row (:func:`layer_entries`)."""
    ys, xs = np.divmod(flat, width)
    box = pixel_bounds(rows, xs, ys, n)
    box[2:] += 1
    return box


def layer_entries(layers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of visibility layers (L, H, W): (flat pixel index ``v · W + u``, element row)."""
    entries = layers >= 0
    return np.flatnonzero(entries) % (layers.shape[1] * layers.shape[2]), layers[entries]


def element_tile_boxes(flat: np.ndarray, rows: np.ndarray, n: int, view: int, width: int,
                       tile_size: int) -> np.ndarray:
    """(4, n) box (x0, y0, x1, y1; tile pixels) of each element's visible pixels that fall in the
    tile of view ``view`` (:mod:`vision.tiles`, ``tile_size`` pixels): the box the detector, which
    learnt boxes of what a tile shows, draws around it there. Elements not in the tile get an empty
    box (x0 > x1).

    flat, rows: the visibility layers' entries (:func:`layer_entries`) at panorama width ``width``.
    Each pixel centre is padded by half a panorama pixel's footprint at the tile's centre.
    """
    lookup, coordinates = panorama_in_tile(view, width, tile_size)
    slot = lookup[flat]
    inside = slot >= 0
    xy = coordinates[slot[inside]]
    box = pixel_bounds(rows[inside], xy[:, 0], xy[:, 1], n)
    pad = TileGeometry(tile_size).focal * math.pi / width
    box[:2] = np.maximum(box[:2] - pad, 0)
    box[2:] = np.minimum(box[2:] + pad, tile_size)
    return box


def observe(twin: Twin, scene: RenderScene, pose: Pose, believed: np.ndarray, detections: list[Detection],
            frame_width: int, work_width: int = WORK_WIDTH,
            reliability: Mapping[str, float] | None = None) -> list[FrameObservation]:
    """Observations of every element that could have been seen from ``pose``.

    believed: (N,) bool, elements believed built (they occlude). detections: on the frame, with
    regions in the frame's pixels (``frame_width`` wide). reliability: tracked class → how reliably
    the detector finds it, in [0, 1] (:attr:`vision.detect.Detector.reliability`; default 1).

    Confidences are the probability the claim is right, never below even odds: an installed claim
    is ``0.5 + 0.5 · score`` (a detection matched to an element of its class by overlap is right far
    more often than not: precision 1.00 in docs/accuracy.md; its score raises it); an absent claim
    is ``0.5 + (ABSENT_CONFIDENCE − 0.5) · in-view share · reliability``. Both are then mapped
    through the calibration table (:func:`vision.calibrate.calibrate`, once per frame, here only),
    so that a confidence is how often such a claim is right.
    """
    reliability = reliability or {}
    origin, directions = world_rays(pose, work_width)
    layers = visibility_layers(scene, origin, directions, believed)
    element = layers[0]
    n = len(twin.elements)
    flat, entry_rows = layer_entries(layers)
    visible = np.bincount(entry_rows, minlength=n)
    # Pixels where the element is the nearest thing that may be there: behind an element not
    # believed built it may be hidden (that element may be built and missed), so it is not judged
    # absent there.
    front = np.bincount(element[element >= 0], minlength=n)
    min_pixels = MIN_VISIBLE_SHARE * element.size
    tracked = [e.tracked_class for e in twin.elements]
    codes = {name: k for k, name in enumerate(taxonomy.CLASS_NAMES)}
    class_code = np.array([codes.get(t, -1) for t in tracked] + [-1], dtype=np.int16)  # last: a miss (-1)
    candidates = [r for r in np.flatnonzero(visible) if tracked[r] is not None and twin.elements[r].physical]
    scale = frame_width / work_width
    box = element_boxes(flat, entry_rows, n, work_width) * scale  # (4, N) box of each element, frame pixels
    tile_boxes: dict[tuple[int, int], np.ndarray] = {}  # (view, tile size) → (4, N) boxes in that tile
    candidate_rows = np.array(candidates, dtype=np.int64)
    candidate_code = class_code[candidate_rows]
    support: dict[int, tuple[float, Detection]] = {}  # element row → (best score, its detection)
    indistinct: set[int] = set()  # elements whose box a detection fits, though it went to a neighbour

    def supports(row: int, score: float, det: Detection) -> None:
        if row not in support or score > support[row][0]:
            support[row] = (score, det)

    # Per detected class, the nearest element of that class along each ray: each pixel of a box
    # supports it (a ceiling seen through unbuilt ones does not make the ceilings behind it installed).
    layer_codes = class_code[layers]
    nearest_of: dict[int, np.ndarray] = {}
    for code in {codes.get(det.tracked, -2) for det in detections} & set(candidate_code.tolist()):
        nearest = np.full(layers.shape[1:], -1, np.int32)
        for depth in range(len(layers) - 1, -1, -1):  # back to front: nearer layers overwrite
            hit = layer_codes[depth] == code
            nearest[hit] = layers[depth][hit]
        nearest_of[code] = nearest
    same_class = {code: candidate_rows[candidate_code == code] for code in nearest_of}
    for det in detections:
        code = codes.get(det.tracked, -2)
        if code not in nearest_of:  # no element of its class in view
            continue
        crop = _region_crop(nearest_of[code], det.region, frame_width)
        if not crop.size:
            continue
        ids = crop.ravel()
        counts = np.bincount(ids[ids >= 0])
        rows = np.flatnonzero(counts)
        counts = counts[rows]
        coverage = counts / visible[rows]
        ok = coverage >= 0.5
        if det.tracked not in SURFACE_CLASSES:  # discrete objects: the box is about the object
            ok &= counts / crop.size >= 0.3
        for row, cover in zip(rows[ok].tolist(), coverage[ok].tolist(), strict=True):
            supports(row, det.confidence * min(1.0, cover), det)
        # ... and the element whose box it fits, compared in the detection's own tile (where the
        # detector drew it): a wall seen through the door of an unbuilt wall in front gives its
        # pixels to that nearer wall above, yet the box is the far wall's.
        key = (det.tile, det.tile_size)
        if key not in tile_boxes:
            tile_boxes[key] = element_tile_boxes(flat, entry_rows, n, det.tile, work_width, det.tile_size)
        same = same_class[code]
        iou = box_iou(np.asarray(det.tile_box, np.float64), tile_boxes[key][:, same])
        best = int(np.argmax(iou))
        if iou[best] >= BOX_MATCH_IOU:
            supports(int(same[best]), det.confidence * float(iou[best]), det)
            indistinct.update(same[iou >= BOX_MATCH_IOU].tolist())
    observations = []
    for row in candidates:
        pixels = int(visible[row])
        region = tuple(float(c) for c in box[:, row])
        if row in support:
            score, det = support[row]
            stage = min(det.stage, taxonomy.BY_NAME[tracked[row]].final_stage)
            confidence = 0.5 + 0.5 * min(max(score, 0.0), 1.0)
            observations.append(FrameObservation(int(row), INSTALLED, stage, float(confidence), pixels,
                                                 det.region))
        elif front[row] >= min_pixels and row not in indistinct:
            in_view = min(1.0, front[row] / (8 * min_pixels))
            confidence = 0.5 + (ABSENT_CONFIDENCE - 0.5) * in_view * reliability.get(tracked[row], 1.0)
            observations.append(FrameObservation(int(row), ABSENT, 0, float(confidence), pixels, region))
        else:
            observations.append(FrameObservation(int(row), NOT_VISIBLE, 0, 1.0, pixels, region))
    claims = [o for o in observations if o.kind != NOT_VISIBLE]
    if claims:
        calibrated = calibrate([tracked[o.row] for o in claims], [o.kind for o in claims],
                               np.array([o.confidence for o in claims]))
        for observation, confidence in zip(claims, calibrated.tolist(), strict=True):
            observation.confidence = confidence
    return observations


def supported(twin: Twin, scene: RenderScene, pose: Pose, believed: np.ndarray, detections: list[Detection],
              frame_width: int, reliability: Mapping[str, float] | None = None) -> np.ndarray:
    """(N,) bool: the elements this frame's detections support seen from ``pose`` (observed at
    :data:`SUPPORT_WIDTH`: enough to anchor a pose on them)."""
    seen = np.zeros(len(twin.elements), bool)
    for observation in observe(twin, scene, pose, believed, detections, frame_width,
                               work_width=SUPPORT_WIDTH, reliability=reliability):
        seen[observation.row] |= observation.kind == INSTALLED
    return seen


def register_frame(twin: Twin, scene: RenderScene, image: np.ndarray, prior: Pose, believed: np.ndarray,
                   detections: list[Detection], refine: bool = True,
                   reliability: Mapping[str, float] | None = None) -> RegistrationResult:
    """Refine the pose of one RGB frame and observe every element from it.

    The pose is refined against what is believed built plus what this frame's detections support
    at the prior pose (so the first walk of a project, with nothing believed yet, registers
    against the structure it sees). Detections that did not match at the prior may match at the
    refined pose: if they add elements, a finer search from the refined pose uses them too.
    """
    distance = edge_distance(image)
    width = image.shape[1]
    anchors = believed | supported(twin, scene, prior, believed, detections, width, reliability)
    pose, score, prior_score = prior, 0.0, 0.0
    if refine and anchors.any():
        pose, score, prior_score = refine_pose(scene.scene(anchors.astype(np.int8)), prior, distance)
        if score >= prior_score:  # never worse than the prior
            pose, score = prior, prior_score
        more = anchors
        if pose != prior:  # detections that missed their element at the prior may match it now
            more = anchors | supported(twin, scene, pose, anchors, detections, width, reliability)
        if (more & ~anchors).any():
            anchors = more
            again, again_score, before = refine_pose(scene.scene(anchors.astype(np.int8)), pose, distance,
                                                     prior=prior, step_m=0.075, step_deg=1.0, levels=4,
                                                     coarse_levels=0)
            if again_score < before:
                pose, score = again, again_score
    observations = observe(twin, scene, pose, anchors, detections, width, reliability=reliability)
    return RegistrationResult(pose, prior, score, prior_score, observations)
