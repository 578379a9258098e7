"""Detector data: perspective tiles rendered from IFC models, labelled from id images.

Training renders generated buildings; the same renderer makes test sets of real models.

Each image is a pinhole render with the tiles' field of view (:data:`vision.tiles.FOV_DEG`) from a
free-space position of a storey at helmet height, in a random as-built state (a random date of
the building's schedule with seeded slips, then per-element jitter), with domain-randomised
appearance and a random view direction. Labels are YOLO boxes of every tracked element with
enough visible pixels, its class the (tracked class, stage) detector label.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from twin import taxonomy
from twin.asbuilt import derive_schedule, stage_timeline, stages_at, tasks_from_ifc
from twin.generate import generate_building
from twin.ifc import open_model
from twin.model import build_twin
from vision.boxes import pixel_bounds
from vision.pose import Pose
from vision.render import Appearance, Intrinsics, RenderScene, render_perspective
from vision.simulate import HELMET, storey_extent, floors, free_points
from vision.tiles import FOV_DEG

MIN_PIXELS = 60  # an element needs this many visible pixels in a tile to be labelled
MIN_SIDE = 4  # ...and a box at least this many pixels wide and high


@dataclass(frozen=True)
class Layout:
    """A generated building used for data: storeys, bays, seed, frame (concrete or steel), roof
    (flat, or gable: an attic of timber rafters)."""

    storeys: int
    bays: tuple[int, int]
    seed: int
    structure: str = "concrete"
    roof: str = "flat"


#: Steel frames and gable roofs (105-107) joined after the bundled weights' first runs
#: (docs/detector.md): real models' steel profiles and timber rafters looked nothing like the
#: generator's concrete rectangles. 108-110 joined for the GPU run, which has data to spare.
TRAIN_LAYOUTS = (Layout(2, (3, 2), 101), Layout(2, (4, 3), 102), Layout(3, (2, 2), 103),
                 Layout(2, (5, 2), 104), Layout(2, (3, 2), 105, "steel"),
                 Layout(1, (4, 2), 106, "steel", "gable"), Layout(2, (2, 2), 107, roof="gable"),
                 Layout(3, (3, 2), 108, "steel"), Layout(2, (4, 2), 109, roof="gable"),
                 Layout(3, (4, 2), 110))
HELD_OUT_LAYOUTS = (Layout(2, (3, 3), 907),)


def element_boxes(element: np.ndarray, n_elements: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, boxes (k, 4) [x0, y0, x1, y1] in pixel edges, pixel counts) of elements in an id image."""
    ys, xs = np.nonzero(element >= 0)
    ids = element[ys, xs]
    counts = np.bincount(ids, minlength=n_elements)
    present = np.flatnonzero(counts)
    box = pixel_bounds(ids, xs, ys, n_elements)[:, present]
    box[2:] += 1  # a pixel's far edge
    return present, box.T, counts[present]


def tile_labels(element: np.ndarray, state: np.ndarray, tracked: list[str | None]) -> list[tuple[int, np.ndarray]]:
    """(detector label, box) for each tracked, built element visible enough in a tile's id image."""
    rows, boxes, counts = element_boxes(element, len(tracked))
    labels = []
    for row, box, count in zip(rows, boxes, counts, strict=True):
        cls = tracked[row]
        if cls is None or count < MIN_PIXELS or min(box[2] - box[0], box[3] - box[1]) < MIN_SIDE:
            continue
        stage = int(min(max(state[row], 1), taxonomy.BY_NAME[cls].final_stage))
        labels.append((taxonomy.LABEL_OF[(cls, stage)], box))
    return labels


def _random_state(timeline, epoch, rng, final_stage):
    days = np.nanmax(np.where(np.isfinite(timeline), timeline, np.nan))
    date = epoch + dt.timedelta(days=float(rng.uniform(-5, days + 10)))
    state = stages_at(timeline, epoch, date)
    # Per-element jitter so that stages mix within a room, as on a real site.
    jitter = rng.random(len(state)) < 0.15
    state[jitter] = np.clip(state[jitter] + rng.integers(-1, 2, jitter.sum()), 0, final_stage[jitter])
    return state


def render_dataset(out: Path, layouts: tuple[Layout, ...], images: int, size: int = 320, seed: int = 0,
                   work_dir: Path | None = None, progress=None) -> dict:
    """Write ``images`` labelled tiles of generated ``layouts`` as a YOLO dataset split under ``out``
    (images/, labels/), shared evenly between the layouts. Returns counts per detector label."""
    work_dir = work_dir or out
    paths = []
    for layout in layouts:
        path = work_dir / f"layout-{layout.seed}.ifc"
        generate_building(path, storeys=layout.storeys, bays=layout.bays, seed=layout.seed,
                          structure=layout.structure, roof=layout.roof)
        paths.append((path, layout.seed))
    return render_models(out, paths, images, size, seed, progress)


def render_models(out: Path, models: list[tuple[Path, int]], images: int, size: int = 320, seed: int = 0,
                  progress=None) -> dict:
    """Write ``images`` labelled tiles of the IFC ``models`` ((path, schedule seed) pairs, generated or
    real) as a YOLO dataset split under ``out``, shared evenly between the models.

    Each model's as-built states come from its own 4D schedule, or a derived trade-order one
    (:func:`twin.asbuilt.derive_schedule`). Raises ValueError naming a model with no free floor
    to stand on (no slab, or only services). Returns counts per detector label.
    """
    rng = np.random.default_rng(seed)
    intrinsics = Intrinsics.from_fov(size, size, FOV_DEG)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    counts = np.zeros(len(taxonomy.DETECTOR_LABELS), int)
    per_model = [images // len(models) + (1 if i < images % len(models) else 0) for i in range(len(models))]
    written = 0
    for (path, schedule_seed), n in zip(models, per_model, strict=True):
        model = open_model(path)
        twin = build_twin(model)
        scene = RenderScene(twin)
        tasks = (tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
                 or derive_schedule(twin, dt.date(2027, 1, 4)))
        tracked = [e.tracked_class if e.physical else None for e in twin.elements]
        timeline, epoch = stage_timeline(twin.global_ids, tracked, [e.storey for e in twin.elements], tasks,
                                         seed=schedule_seed)
        final_stage = scene.final_stage.astype(int)
        full = scene.scene(None)
        spots = []
        floor_mask = floors(twin)
        for storey in twin.storeys:
            try:
                lo, hi, elevation = storey_extent(twin, storey.global_id)
            except ValueError:  # a storey without elements to bound it
                continue
            spots += [(p, elevation) for p in free_points(full, lo, hi, elevation, floor_mask)]
        if not spots:
            raise ValueError(f"{path.name}: no storey has free floor to stand on (no slab, or only services)")
        for _ in range(n):
            state = _random_state(timeline, epoch, rng, final_stage)
            (x, y), elevation = spots[rng.integers(len(spots))]
            pose = Pose(float(x + rng.uniform(-0.2, 0.2)), float(y + rng.uniform(-0.2, 0.2)),
                        float(elevation + rng.uniform(*HELMET)), float(rng.uniform(-math.pi, math.pi)),
                        float(rng.choice([rng.uniform(-0.35, 0.35), rng.uniform(-1.57, -1.0),
                                          rng.uniform(1.0, 1.57)], p=[0.7, 0.15, 0.15])),
                        float(rng.normal(0, 0.03)))
            appearance = Appearance.randomised(int(rng.integers(1 << 30)))
            render = render_perspective(scene, pose, intrinsics, state, appearance)
            name = f"{written:06d}"
            # at the quality the appearance drew (its artefacts are already in the pixels): a
            # second, finer encoding would only double the file
            cv2.imwrite(str(out / "images" / f"{name}.jpg"), render.rgb[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, appearance.jpeg_quality or 95])
            lines = []
            for label, (x0, y0, x1, y1) in tile_labels(render.element, state, tracked):
                counts[label] += 1
                lines.append(f"{label} {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f} "
                             f"{(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}")
            (out / "labels" / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            written += 1
            if progress is not None:
                progress(written)
    return {taxonomy.DETECTOR_NAMES[i]: int(c) for i, c in enumerate(counts)}
