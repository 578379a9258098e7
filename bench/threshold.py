"""Choose the detector's operating confidence threshold and NMS IoU on tuning layouts, and record
them in the card.

Both trade recall against precision of the whole loop, so they are chosen by running
``sitetwin evaluate`` (the loop against ground truth) at each pair of candidates on generated
layouts that are neither trained on (``vision.dataset.TRAIN_LAYOUTS``) nor reported in
docs/accuracy.md (``bench/accuracy.py``'s layouts and every real model): the reported figures stay
unseen. The best mean F1 wins; ties go to the higher threshold, then the lower IoU (fewer
detections to register).

    .venv/bin/python bench/threshold.py [--weights PATH] [--candidates 0.25 0.15 0.1 0.05]
                                        [--iou 0.5 0.6 0.7] [--write]

``--write`` stores ``confidence``, ``iou`` and the table in ``<weights>.json``, which
:func:`vision.detect.load_detector` reads.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402
from vision.detect import load_detector, weights_path  # noqa: E402

#: (label, generate_building keyword arguments): layouts used for nothing but tuning (here and in
#: bench/pose.py): two concrete frames under flat roofs, a gable roof, a steel frame and both, so
#: that an attic's rafters and steel sections weigh in the choices.
TUNING_LAYOUTS = (("913", dict(storeys=2, bays=(4, 2), seed=913)),
                  ("917", dict(storeys=1, bays=(3, 3), seed=917)),
                  ("953 gable", dict(storeys=1, bays=(4, 2), seed=953, roof="gable")),
                  ("959 steel", dict(storeys=2, bays=(3, 2), seed=959, structure="steel")),
                  ("961 steel gable", dict(storeys=2, bays=(2, 2), seed=961, roof="gable",
                                           structure="steel")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--candidates", type=float, nargs="+", default=[0.25, 0.15, 0.1, 0.05])
    parser.add_argument("--iou", type=float, nargs="+", default=[0.5, 0.6, 0.7])
    parser.add_argument("--walks", type=int, default=2)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    from webapp.services.evaluation import evaluate_model

    weights = args.weights or weights_path()
    detector = load_detector(weights)
    table = []
    labels = [label for label, _ in TUNING_LAYOUTS]
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for label, spec in TUNING_LAYOUTS:
            path = Path(tmp) / f"tuning-{label.replace(' ', '-')}.ifc"
            generate_building(path, **spec)
            models.append(path)
        for threshold, iou in itertools.product(sorted(args.candidates, reverse=True), sorted(args.iou)):
            detector.confidence, detector.iou = threshold, iou
            reports = [evaluate_model(path, detector, walks=args.walks, frames=args.frames, seed=3,
                                      width=1024) for path in models]
            row = {"confidence": threshold, "iou": iou,
                   **{key: round(sum(r["overall"][key] or 0.0 for r in reports) / len(reports), 3)
                      for key in ("precision", "recall", "f1")},
                   "pose_median_cm": round(sum(r["pose"]["median_cm"] for r in reports) / len(reports), 2),
                   "f1_per_layout": dict(zip(labels, (r["overall"]["f1"] for r in reports), strict=True))}
            table.append(row)
            print(json.dumps(row), file=sys.stderr)
    best = max(table, key=lambda row: (row["f1"], row["confidence"], -row["iou"]))
    result = {"weights": str(weights), "layouts": labels, "table": table,
              "confidence": best["confidence"], "iou": best["iou"]}
    if args.write:
        card_path = weights.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        card["confidence"], card["iou"] = best["confidence"], best["iou"]
        card["threshold_tuning"] = {"layouts": result["layouts"], "table": table,
                                    "command": "bench/threshold.py " + " ".join(sys.argv[1:])}
        card_path.write_text(json.dumps(card, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
