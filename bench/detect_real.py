"""mAP50 per class of the detector on tiles rendered from the real models in ../shared/ifc.

None of these models is used in training (generated buildings only). Each walkable model gets
``--images`` tiles rendered exactly as the training data is (`vision.dataset.render_models`:
as-built states from the model's own 4D schedule or a derived trade-order one, domain-randomised
appearance, labels from the id images); ultralytics validates the weights on each model's tiles
and on all of them together. Models with no floor to stand on are listed as such.

    .venv/bin/python bench/detect_real.py [--images 60] [--weights PATH] [--write]

``--write`` replaces the "Detection on real models" section of docs/detector.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin import taxonomy  # noqa: E402
from vision.dataset import render_models  # noqa: E402
from vision.detect import quiet_ultralytics, weights_path  # noqa: E402
from vision.train import per_class_map50, write_data_yaml  # noqa: E402

TITLE = "Detection on real models"
#: The reading below the table, kept when --write rewrites the section. Rewrite it with the figures.
NOTES = ["Reading it (run 7, 2026-11-29): over all walkable real models mAP50 is 0.56 (run 6 on the same",
         "tiles: 0.50), against 0.73 on the held-out generated layout. Slabs (0.88), doors (0.81),",
         "windows (0.85), finished ceilings (0.95) and framed walls (0.82) carry over. Boarded (0.59) and",
         "finished walls (0.67), columns (0.35) and beams (0.42) fall short of what they reach on",
         "generated layouts: the real models' sections (IfcOpenHouse's roof beams 0.21, duplex's 0.08,",
         "webifc_example's columns 0.47) and wall build-ups (duplex's boarded walls 0.19,",
         "webifc_example's 0.17) look little like the generator's. Stairs (0.02) and railings (0.17) are",
         "poor everywhere; equipment is untrained. Run 6 to run 7: columns 0.29 → 0.35, beams",
         "0.28 → 0.42, boarded walls 0.50 → 0.59, pipes 0.35 → 0.61; doors 0.84 → 0.81 and framed",
         "ceilings 0.64 → 0.61 went down a little."]


def validate(weights: Path, root: Path, size: int) -> dict:
    """Ultralytics validation of ``weights`` on the YOLO split in ``root`` (images/, labels/)."""
    from ultralytics import YOLO

    data = write_data_yaml(root, train="images", val="images")  # validation only: both name the one split
    with contextlib.redirect_stdout(sys.stderr):
        metrics = YOLO(str(weights)).val(data=str(data), imgsz=size, batch=16, device="cpu", plots=False,
                                         verbose=False, split="val", project=str(root / "runs"))
    return {"map50": round(float(metrics.box.map50), 3), "per_class": per_class_map50(metrics)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60, help="tiles per model")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    quiet_ultralytics()
    weights = args.weights or weights_path()
    results, skipped = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        combined = Path(tmp) / "all"
        for k, path in enumerate(sorted((REPO.parent / "shared" / "ifc").glob("*.ifc"))):
            root = Path(tmp) / path.stem
            try:
                render_models(root, [(path, 7)], args.images, args.size, seed=500 + k)
            except ValueError as error:
                skipped[path.name] = str(error)
                continue
            results[path.name] = validate(weights, root, args.size)
            print(json.dumps({"model": path.name, **results[path.name]}), file=sys.stderr)
            for part in ("images", "labels"):  # the combined set: every model's tiles, renamed apart
                (combined / part).mkdir(parents=True, exist_ok=True)
                for file in (root / part).iterdir():
                    shutil.copyfile(file, combined / part / f"{path.stem}-{file.name}")
        overall = validate(weights, combined, args.size) if results else None
    report = {"weights": weights.name, "images_per_model": args.images, "models": results, "all": overall,
              "not_walkable": skipped}
    if args.write:
        write_doc(report)
    print(json.dumps(report))


def write_doc(report: dict) -> None:
    from bench_doc import write_section

    classes = [name for name in taxonomy.DETECTOR_NAMES
               if any(name in r["per_class"] for r in report["models"].values())]
    lines = [f"`bench/detect_real.py --images {report['images_per_model']} --write`: "
             f"{report['images_per_model']} tiles per model rendered as the training data is (as-built "
             "states "
             "from the model's schedule or a derived trade-order one), mAP50 of the bundled weights by "
             "ultralytics. None of these models is in the training data. – : no label of that class in the "
             "model's tiles.", "",
             "| model | all | " + " | ".join(classes) + " |",
             "|---|---:|" + "---:|" * len(classes)]
    rows = list(report["models"].items()) + ([("**all models**", report["all"])] if report["all"] else [])
    for name, r in rows:
        cells = [f"{r['per_class'][c]:.2f}" if c in r["per_class"] else "–" for c in classes]
        lines.append(f"| {name} | **{r['map50']:.2f}** | " + " | ".join(cells) + " |")
    if report["not_walkable"]:
        lines += ["", "Not rendered (no floor to stand on): "
                  + ", ".join(sorted(report["not_walkable"])) + "."]
    write_section(TITLE, lines + [""] + NOTES, doc=REPO / "docs" / "detector.md")


if __name__ == "__main__":
    main()
