"""Choose the detector's operating confidence threshold on tuning layouts, and record it in the card.

The threshold trades recall against precision of the whole loop, so it is chosen by running
``sitetwin evaluate`` (the loop against ground truth) at each candidate on generated layouts that
are neither trained on (``vision.dataset.TRAIN_LAYOUTS``) nor reported in docs/accuracy.md
(``bench/accuracy.py``'s layouts and every real model): the reported figures stay unseen. The
best mean F1 wins; ties go to the higher threshold (fewer detections to register).

    .venv/bin/python bench/threshold.py [--weights PATH] [--candidates 0.25 0.15 0.1 0.05] [--write]

``--write`` stores ``confidence`` and the table in ``<weights>.json``, which
:func:`vision.detect.load_detector` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402
from vision.detect import load_detector, weights_path  # noqa: E402

#: (storeys, bays, seed): layouts used for nothing else.
TUNING_LAYOUTS = ((2, (4, 2), 913), (1, (3, 3), 917))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--candidates", type=float, nargs="+", default=[0.25, 0.15, 0.1, 0.05])
    parser.add_argument("--walks", type=int, default=2)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    from webapp.services.evaluation import evaluate_model

    weights = args.weights or weights_path()
    detector = load_detector(weights)
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for storeys, bays, seed in TUNING_LAYOUTS:
            path = Path(tmp) / f"tuning-{storeys}x{bays[0]}x{bays[1]}-{seed}.ifc"
            generate_building(path, storeys=storeys, bays=bays, seed=seed)
            models.append(path)
        for threshold in sorted(args.candidates, reverse=True):
            detector.confidence = threshold
            reports = [evaluate_model(path, detector, walks=args.walks, frames=args.frames, seed=3,
                                      width=1024) for path in models]
            row = {"confidence": threshold,
                   **{key: round(sum(r["overall"][key] or 0.0 for r in reports) / len(reports), 3)
                      for key in ("precision", "recall", "f1")},
                   "pose_median_cm": round(sum(r["pose"]["median_cm"] for r in reports) / len(reports), 2)}
            table.append(row)
            print(json.dumps(row), file=sys.stderr)
    best = max(table, key=lambda row: (row["f1"], row["confidence"]))
    result = {"weights": str(weights), "layouts": [list(layout) for layout in TUNING_LAYOUTS], "table": table,
              "confidence": best["confidence"]}
    if args.write:
        card_path = weights.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        card["confidence"] = best["confidence"]
        card["threshold_tuning"] = {"layouts": result["layouts"], "table": table,
                                    "command": "bench/threshold.py --write"}
        card_path.write_text(json.dumps(card, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
