"""Train the bundled detector from scratch on rendered tiles (ultralytics, offline).

The model is built from ``vision/models/sitetwin-yolov8.yaml`` (no pretrained weights exist here,
and nothing may be downloaded); training data is rendered by :mod:`vision.dataset` from generated
buildings (``TRAIN_LAYOUTS``), validation from a layout and seeds never used in training
(``HELD_OUT_LAYOUTS``). ``plots=False`` keeps ultralytics from fetching fonts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from twin import taxonomy

if TYPE_CHECKING:  # vision.dataset needs the renderer (open3d, ifcopenshell); fitting does not
    from vision.dataset import Layout

MODEL_YAML = Path(__file__).with_name("models") / "sitetwin-yolov8.yaml"

#: Configurations: a CPU one that finishes in a developer session, a larger one for a GPU. Both
#: train at the detector's tile size (:func:`vision.tiles.cut_tiles`); ``cache`` keeps decoded
#: images in memory (ultralytics), ``workers`` are its data-loading processes.
CONFIGS = {
    "cpu": {"images": 1200, "epochs": 30, "size": 320, "batch": 16, "scale": "n", "device": "cpu",
            "workers": 2, "cache": False},
    "gpu": {"images": 3500, "epochs": 100, "size": 320, "batch": 128, "scale": "n", "device": "0",
            "workers": 12, "cache": "ram"},
}
#: The labels' counts per detector class, written beside a rendered dataset's data.yaml.
COUNTS_FILE = "label_counts.json"


@dataclass
class TrainResult:
    weights: Path
    config: dict
    seconds: float
    label_counts: dict[str, int]
    map50: dict[str, float] = field(default_factory=dict)
    map50_all: float = 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["weights"] = self.weights.name  # the card travels with the weights: no absolute paths
        if "start_from" in data["config"]:
            data["config"]["start_from"] = Path(data["config"]["start_from"]).name
        return data


def write_data_yaml(root: Path, train: str = "train/images", val: str = "val/images") -> Path:
    """The ultralytics dataset file ``root/data.yaml`` for the splits ``train`` and ``val`` under ``root``."""
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(taxonomy.DETECTOR_NAMES))
    path = root / "data.yaml"
    path.write_text(f"path: {root}\ntrain: {train}\nval: {val}\nnames:\n{names}\n")
    return path


def model_yaml(scale: str, work: Path) -> Path:
    """The model yaml at ``scale`` (n or s)."""
    text = MODEL_YAML.read_text().replace("\nscale: n\n", f"\nscale: {scale}\n")
    path = work / f"sitetwin-yolov8{scale}.yaml"
    path.write_text(text)
    return path


def per_class_map50(metrics) -> dict[str, float]:
    """mAP50 per detector label from ultralytics validation metrics (labels absent from val: omitted)."""
    box = metrics.box
    return {taxonomy.DETECTOR_NAMES[int(c)]: round(float(box.ap50[i]), 3) for i, c in enumerate(box.ap_class_index)}


def render_training_data(root: Path, images: int, size: int, seed: int = 0,
                         train_layouts: tuple[Layout, ...] | None = None,
                         val_layouts: tuple[Layout, ...] | None = None, progress=None) -> dict[str, int]:
    """Render a YOLO dataset of ``size``-pixel tiles under ``root``: train/ of ``train_layouts``
    (default :data:`vision.dataset.TRAIN_LAYOUTS`), val/ of ``val_layouts`` (default the held-out
    ``HELD_OUT_LAYOUTS``) with ``seed + 1000``, a fifth as many images.

    Returns the training labels' counts per detector label, also written to ``root/label_counts.json``.
    """
    from vision.dataset import HELD_OUT_LAYOUTS, TRAIN_LAYOUTS, render_dataset

    root = Path(root)
    counts = render_dataset(root / "train", train_layouts or TRAIN_LAYOUTS, images, size, seed=seed,
                            work_dir=root, progress=progress)
    render_dataset(root / "val", val_layouts or HELD_OUT_LAYOUTS, max(images // 5, 50), size,
                   seed=seed + 1000, work_dir=root)
    (root / COUNTS_FILE).write_text(json.dumps(counts, indent=1))
    return counts


def settings_for(config: str, **overrides) -> dict:
    """The configuration's settings with the ``overrides`` that are not None."""
    return {**CONFIGS[config], **{k: v for k, v in overrides.items() if v is not None}}


def train_detector(out: Path, config: str = "cpu", images: int | None = None, epochs: int | None = None,
                   seed: int = 0, train_layouts: tuple[Layout, ...] | None = None,
                   val_layouts: tuple[Layout, ...] | None = None, start_from: Path | None = None,
                   progress=None) -> TrainResult:
    """Render data, train, validate on the held-out layout, and copy the best weights to ``out``.

    start_from: weights to continue from (fresh data is rendered with ``seed``); default: from scratch.
    """
    settings = settings_for(config, images=images, epochs=epochs)
    out = Path(out)
    started = time.perf_counter()
    root = out.parent / f"{out.stem}-work" / "dataset"
    render_training_data(root, settings["images"], settings["size"], seed, train_layouts, val_layouts,
                         progress)
    return fit_detector(out, root, settings, seed, start_from, started=started)


def fit_detector(out: Path, root: Path, settings: dict, seed: int = 0, start_from: Path | None = None,
                 hours: float | None = None, started: float | None = None) -> TrainResult:
    """Train on the dataset rendered under ``root`` (:func:`render_training_data`), validate the
    best epoch on its val split, and copy the best weights to ``out`` with the training record
    beside them (.json).

    This half needs no renderer (open3d, ifcopenshell): a dataset rendered on one machine can be
    trained on another. hours: stop after this much training time (ultralytics' ``time``).
    """
    from vision.detect import quiet_ultralytics

    quiet_ultralytics()
    from ultralytics import YOLO

    out, root = Path(out), Path(root)
    started = time.perf_counter() if started is None else started
    work = out.parent / f"{out.stem}-work"
    work.mkdir(parents=True, exist_ok=True)
    data = write_data_yaml(root)  # here: the dataset may have been rendered elsewhere
    counts = json.loads((root / COUNTS_FILE).read_text()) if (root / COUNTS_FILE).exists() else {}
    model = YOLO(str(start_from)) if start_from else YOLO(str(model_yaml(settings["scale"], work)))
    # ultralytics draws its progress bars on stdout, which belongs to the CLI's one JSON object.
    with contextlib.redirect_stdout(sys.stderr):
        trainer = _fit(model, data, settings, seed, work, start_from, hours)
        best = work / "runs" / "train" / "weights" / "best.pt"
        metrics = YOLO(str(best)).val(data=str(data), imgsz=settings["size"], batch=settings["batch"],
                                      device=settings["device"], plots=False, verbose=False, split="val")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, out)
    settings = {**settings, "images": sum(1 for _ in (root / "train" / "images").iterdir())}
    if start_from:
        settings["start_from"] = str(start_from)
    if hours:
        settings["hours"] = hours
    settings["epochs_run"] = int(trainer.epoch) + 1
    result = TrainResult(out, settings, round(time.perf_counter() - started, 1), counts, per_class_map50(metrics),
                         round(float(metrics.box.map50), 3))
    out.with_suffix(".json").write_text(json.dumps(result.as_dict(), indent=1))
    return result


def _fit(model, data: Path, settings: dict, seed: int, work: Path, start_from: Path | None,
         hours: float | None):
    """Run ultralytics' trainer; returns it (its ``epoch`` is the last one run)."""
    model.train(data=str(data), epochs=settings["epochs"], imgsz=settings["size"], batch=settings["batch"],
                device=settings["device"], workers=settings["workers"], cache=settings["cache"],
                seed=seed, deterministic=True, plots=False, amp=False, **({"time": hours} if hours else {}),
                project=str(work / "runs"), name="train", exist_ok=True, verbose=False,
                # From a .pt, the trainer rebuilds the model and loads these weights only if asked.
                pretrained=str(start_from) if start_from else False,
                mosaic=0.5, fliplr=0.5, hsv_h=0.02, close_mosaic=5, patience=1000,
                **({"lr0": 0.004, "warmup_epochs": 0} if start_from else {}))
    return model.trainer
