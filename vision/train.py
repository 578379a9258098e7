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

from twin import taxonomy
from vision.dataset import HELD_OUT_LAYOUTS, TRAIN_LAYOUTS, Layout, render_dataset

MODEL_YAML = Path(__file__).with_name("models") / "sitetwin-yolov8.yaml"

#: Configurations: a CPU one that finishes in a developer session, a larger one for a GPU.
CONFIGS = {
    "cpu": {"images": 1200, "epochs": 30, "size": 320, "batch": 16, "scale": "n", "device": "cpu"},
    "gpu": {"images": 12000, "epochs": 150, "size": 416, "batch": 64, "scale": "s", "device": "0"},
}


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


def train_detector(out: Path, config: str = "cpu", images: int | None = None, epochs: int | None = None,
                   seed: int = 0, train_layouts: tuple[Layout, ...] = TRAIN_LAYOUTS,
                   val_layouts: tuple[Layout, ...] = HELD_OUT_LAYOUTS, start_from: Path | None = None,
                   progress=None) -> TrainResult:
    """Render data, train, validate on the held-out layout, and copy the best weights to ``out``.

    start_from: weights to continue from (fresh data is rendered with ``seed``); default: from scratch.
    """
    from vision.detect import quiet_ultralytics

    quiet_ultralytics()
    from ultralytics import YOLO
    settings = dict(CONFIGS[config])
    if images:
        settings["images"] = images
    if epochs:
        settings["epochs"] = epochs
    out = Path(out)
    work = out.parent / f"{out.stem}-work"
    data_root = work / "dataset"
    started = time.perf_counter()
    counts = render_dataset(data_root / "train", train_layouts, settings["images"], settings["size"], seed=seed,
                            work_dir=work, progress=progress)
    render_dataset(data_root / "val", val_layouts, max(settings["images"] // 5, 50), settings["size"],
                   seed=seed + 1000, work_dir=work)
    data = write_data_yaml(data_root)
    model = YOLO(str(start_from)) if start_from else YOLO(str(model_yaml(settings["scale"], work)))
    # ultralytics draws its progress bars on stdout, which belongs to the CLI's one JSON object.
    with contextlib.redirect_stdout(sys.stderr):
        _fit(model, data, settings, seed, work, start_from)
        best = work / "runs" / "train" / "weights" / "best.pt"
        metrics = YOLO(str(best)).val(data=str(data), imgsz=settings["size"], batch=settings["batch"],
                                      device=settings["device"], plots=False, verbose=False, split="val")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, out)
    if start_from:
        settings["start_from"] = str(start_from)
    result = TrainResult(out, settings, round(time.perf_counter() - started, 1), counts, per_class_map50(metrics),
                         round(float(metrics.box.map50), 3))
    out.with_suffix(".json").write_text(json.dumps(result.as_dict(), indent=1))
    return result


def _fit(model, data: Path, settings: dict, seed: int, work: Path, start_from: Path | None) -> None:
    model.train(data=str(data), epochs=settings["epochs"], imgsz=settings["size"], batch=settings["batch"],
                device=settings["device"], workers=2, seed=seed, deterministic=True, plots=False, amp=False,
                project=str(work / "runs"), name="train", exist_ok=True, verbose=False,
                # From a .pt, the trainer rebuilds the model and loads these weights only if asked.
                pretrained=str(start_from) if start_from else False,
                mosaic=0.5, fliplr=0.5, hsv_h=0.02, close_mosaic=5, patience=1000,
                **({"lr0": 0.004, "warmup_epochs": 0} if start_from else {}))
