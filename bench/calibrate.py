"""Refit the observation-confidence calibration (vision/calibration.json) on timeline runs.

    .venv/bin/python bench/calibrate.py [--weeks 6] [--walks-per-week 2] [--frames 6] [--width 1024] [--write]

Runs :func:`webapp.services.timeline.evaluate_timeline` with raw confidences
(``SITETWIN_CALIBRATION=none``) on generated buildings of TRAINING seeds (:data:`TRAINING`; never
the benchmark's seed 971), collects every "installed" and "absent" claim with whether it was right,
and fits the per-class, per-kind monotone maps (:func:`vision.calibrate.fit_table`). Then the same
on the benchmark's unseen building: its reliability table with raw confidences (before) and with
the new maps applied (after). ``--write`` writes the table and docs/accuracy.md's *Confidence
calibration* section. One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_doc import write_section  # noqa: E402

from twin.generate import generate_building  # noqa: E402

#: Training buildings (and timeline seeds): in no other benchmark's or the detector's lists.
TRAINING = (dict(storeys=2, bays=(3, 2), seed=301), dict(storeys=3, bays=(2, 2), seed=302))
TITLE = "Confidence calibration (`bench/calibrate.py`)"


def outcomes_of(layout: dict, args, tmp: Path) -> list:
    from webapp.services.timeline import evaluate_timeline

    path = tmp / f"building-{layout['seed']}.ifc"
    generate_building(path, **layout)
    collected: list = []
    print(f"timeline of building {layout['seed']} ...", file=sys.stderr, flush=True)
    evaluate_timeline(path, weeks=args.weeks, walks_per_week=args.walks_per_week, seed=layout["seed"],
                      frames=args.frames, width=args.width, collect=collected)
    return collected


def _rows(table: dict) -> list[str]:
    lines = ["| class | bin | mean confidence | observed accuracy | claims |", "|---|---|---:|---:|---:|"]
    for cls, rows in table.items():
        lines += [f"| {cls} | {r['bin']} | {r['confidence']:.2f} | {r['accuracy']:.2f} | {r['claims']} |" for r in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--walks-per-week", type=int, default=2)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    os.environ["SITETWIN_CALIBRATION"] = "none"
    from timeline import GENERATED, SEED

    from vision import calibrate

    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as tmp:
        training = [o for layout in TRAINING for o in outcomes_of(layout, args, Path(tmp))]
        table = calibrate.fit_table(training, source={
            "command": f"bench/calibrate.py --weeks {args.weeks} --walks-per-week {args.walks_per_week} "
                       f"--frames {args.frames} --width {args.width}",
            "buildings": [f"{t['storeys']} storeys {t['bays'][0]}×{t['bays'][1]} bays, seed {t['seed']}"
                          for t in TRAINING],
            "claims": len(training)})
        held_out = outcomes_of(GENERATED[1], args, Path(tmp))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(table, handle)
    os.environ["SITETWIN_CALIBRATION"] = handle.name
    after = [(cls, kind, float(c), right) for (cls, kind, _, right), c in zip(
        held_out, calibrate.calibrate([o[0] for o in held_out], [o[1] for o in held_out],
                                      [o[2] for o in held_out]), strict=True)]
    Path(handle.name).unlink()
    before_table, after_table = calibrate.reliability(held_out), calibrate.reliability(after)
    print(json.dumps({"table": table, "before": before_table, "after": after_table, "held_out_claims": len(held_out),
                      "held_out_seed": SEED}, sort_keys=True))
    if args.write:
        text = json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False)
        # one line per list of knots
        text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
        calibrate.TABLE.write_text(text + "\n")
        lines = [f"Command: `.venv/bin/python bench/calibrate.py --weeks {args.weeks} --walks-per-week "
                 f"{args.walks_per_week} --frames {args.frames} --width {args.width} --write`. The maps in "
                 "`vision/calibration.json` are fitted on timeline runs with raw confidences on generated buildings "
                 f"of training seeds ({', '.join(str(t['seed']) for t in TRAINING)}; {len(training)} claims); the "
                 f"tables below are the unseen benchmark building (seed {SEED}, {len(held_out)} claims) with raw "
                 "confidences and with the maps applied. A claim is right when an \"installed\" element is truly "
                 "at stage ≥ 1, or an \"absent\" one truly at 0. Calibrated confidences stay within [0.5, 0.99].",
                 "", "### Before (raw confidences)", "", *_rows(before_table), "",
                 "### After (calibrated)", "", *_rows(after_table)]
        write_section(TITLE, lines, doc=REPO / "docs" / "accuracy.md")


if __name__ == "__main__":
    main()
