"""Detect construction elements on an equirectangular frame with the project's YOLO detector.

``detect_frame(image, detector)`` cuts the frame into tiles (:mod:`vision.tiles`), runs every
tile through ultralytics in one batched call, maps each box back to the sphere and merges
duplicates across overlapping tiles. torch and ultralytics are imported here only, lazily, and
their results become :class:`Detection` dataclasses at once.

Weights: the bundled ``vision/weights/sitetwin-det.pt``, or ``SITETWIN_DETECTOR``. Other weights
must name exactly the classes of :data:`twin.taxonomy.DETECTOR_NAMES`; a mismatch is an error
when the detector loads, not a wrong result later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin import taxonomy
from vision.tiles import VIEWS, cut_tiles, merge_regions, tile_boxes_to_regions

BUNDLED_WEIGHTS = Path(__file__).with_name("weights") / "sitetwin-det.pt"


class DetectorError(RuntimeError):
    """Weights that cannot serve as the SiteTwin detector (missing file, wrong classes)."""


@dataclass(frozen=True)
class Detection:
    """One detection on a frame.

    label: index into :data:`twin.taxonomy.DETECTOR_LABELS`; name/tracked/stage from it.
    confidence: detector score in [0, 1]. tile: the tile (view) index; tile_box: [x0, y0, x1, y1]
    pixels in that tile, which is ``tile_size`` pixels square. region: [u0, v0, u1, v1] panorama
    pixels (u1 may exceed the width when the region crosses the left/right seam).
    """

    label: int
    confidence: float
    tile: int
    tile_box: tuple[float, float, float, float]
    region: tuple[float, float, float, float]
    tile_size: int

    @property
    def name(self) -> str:
        return taxonomy.DETECTOR_NAMES[self.label]

    @property
    def tracked(self) -> str:
        return taxonomy.DETECTOR_LABELS[self.label].tracked

    @property
    def stage(self) -> int:
        return taxonomy.DETECTOR_LABELS[self.label].stage


@dataclass
class Detector:
    """A loaded YOLO model, its tile size and thresholds."""

    model: object
    path: Path
    tile_size: int = 320
    #: Detections scoring below this are dropped: the model card's operating threshold (chosen on
    #: tuning layouts, never the reported ones, see docs/detector.md) or ultralytics' default.
    confidence: float = 0.25
    #: IoU above which the detector's NMS keeps only the better of two boxes of one class in a tile:
    #: the model card's (chosen with the threshold, docs/detector.md) or ultralytics' default.
    iou: float = 0.7
    device: str = "cpu"
    #: Tracked class → how reliably the detector finds an installed element of it, in [0, 1]: the
    #: held-out mAP50 of its model card (best stage label). Registration scales the evidence of an
    #: "absent" observation by it: a class the detector rarely finds is not absent for being unseen.
    #: Empty (weights without a card): every class is trusted fully.
    reliability: dict[str, float] = field(default_factory=dict)


def quiet_ultralytics() -> None:
    """Ready ultralytics for use here: offline (nothing may be downloaded), and its log on stderr
    (stdout belongs to the CLI's one JSON object).

    Call it before anything else imports ultralytics: both take effect at import, and its first
    import on a machine writes a settings file and says so.
    """
    import contextlib
    import sys

    os.environ.setdefault("YOLO_OFFLINE", "1")
    with contextlib.redirect_stdout(sys.stderr):
        from ultralytics.utils import LOGGER

    for handler in LOGGER.handlers:
        if getattr(handler, "stream", None) is sys.stdout:
            handler.setStream(sys.stderr)


def weights_path() -> Path:
    return Path(os.environ.get("SITETWIN_DETECTOR") or BUNDLED_WEIGHTS)


def load_detector(path: str | os.PathLike | None = None, tile_size: int | None = None, device: str = "cpu"
                  ) -> Detector:
    """Load weights and check their class names are the taxonomy's detector labels, in order."""
    path = Path(path) if path else weights_path()
    if not path.is_file():
        raise DetectorError(f"{path}: no detector weights (train them with `sitetwin train-detector`)")
    quiet_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(path), task="detect")
    names = model.names
    names = [names[i] for i in range(len(names))] if isinstance(names, dict) else list(names)
    if tuple(names) != taxonomy.DETECTOR_NAMES:
        missing = sorted(set(taxonomy.DETECTOR_NAMES) - set(names))
        extra = sorted(set(names) - set(taxonomy.DETECTOR_NAMES))
        raise DetectorError(f"{path}: detector classes do not match SiteTwin's labels "
                            f"(missing {missing or 'none'}, unexpected {extra or 'none'}"
                            f"{', different order' if not missing and not extra else ''})")
    size = tile_size or int(getattr(model, "overrides", {}).get("imgsz") or 320)
    card = model_card(path)
    return Detector(model, path, tile_size=size, device=device, reliability=class_reliability(card),
                    confidence=float(card.get("confidence", Detector.confidence)),
                    iou=float(card.get("iou", Detector.iou)))


def model_card(weights: Path) -> dict:
    """The weights' training record (``<weights>.json``, written by training); empty when there is none."""
    import json

    card = weights.with_suffix(".json")
    return json.loads(card.read_text()) if card.is_file() else {}


def class_reliability(card: dict) -> dict[str, float]:
    """Per tracked class, the best held-out mAP50 among its labels in a model card (empty: none)."""
    ap = card.get("map50") or {}
    reliability: dict[str, float] = {}
    for label in taxonomy.DETECTOR_LABELS:
        if label.name in ap:
            reliability[label.tracked] = max(reliability.get(label.tracked, 0.0), float(ap[label.name]))
    return reliability


def infer_tiles(tiles: np.ndarray, detector: Detector) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Bare YOLO inference on (V, S, S, 3) RGB tiles in one batch: per tile (boxes xyxy, scores, labels)."""
    results = detector.model.predict(list(tiles[..., ::-1]), imgsz=detector.tile_size, conf=detector.confidence,
                                     iou=detector.iou, device=detector.device, verbose=False)
    out = []
    for result in results:
        boxes = result.boxes
        out.append((boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(int)))
    return out


def detect_frame(image: np.ndarray, detector: Detector, merge_iou: float = 0.45) -> list[Detection]:
    """Detections on an RGB equirectangular frame (H, W, 3), merged across tiles, best first."""
    width = image.shape[1]
    tiles = cut_tiles(image, detector.tile_size)
    per_tile = infer_tiles(tiles, detector)
    found = [(np.full(len(boxes), view), boxes, scores, labels)
             for view, (boxes, scores, labels) in enumerate(per_tile) if len(boxes)]
    if not found:
        return []
    views, boxes, scores, labels = (np.concatenate(column) for column in zip(*found, strict=True))
    regions = np.concatenate([tile_boxes_to_regions(int(view[0]), tile_boxes, detector.tile_size, width)
                              for view, tile_boxes, _, _ in found])
    keep = merge_regions(regions, scores, labels, width, merge_iou, tiles=views)
    return [Detection(int(labels[i]), float(scores[i]), int(views[i]), tuple(boxes[i].tolist()),
                      tuple(regions[i].tolist()), detector.tile_size) for i in keep]


def warm_up(detector: Detector) -> None:
    """Run the detector once on a blank frame. PyTorch's and ultralytics' first call on a process
    costs about a second more than the next ones (lazy initialisation): a worker pays it here,
    before its first capture, not while a capture waits."""
    detect_frame(np.zeros((detector.tile_size, 2 * detector.tile_size, 3), np.uint8), detector)


__all__ = ["Detection", "Detector", "DetectorError", "VIEWS", "detect_frame", "infer_tiles", "load_detector",
           "warm_up"]
