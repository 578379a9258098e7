"""The accuracy table of docs/accuracy.md: `sitetwin evaluate` on generated layouts never used in
training and on every real model in ../shared/ifc that has a storey to walk.

    .venv/bin/python bench/accuracy.py [--walks 3] [--frames 6] [--width 1024] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402

# Generated layouts, none trained on (vision.dataset.TRAIN_LAYOUTS) nor used to choose the operating
# threshold (bench/threshold.py): 907 is the detector's held-out layout; 929-943 were added when
# 907 and 911 had been used to diagnose registration, so that some rows are untouched by any choice.
GENERATED = [("generated 2 storeys 3×3 bays, seed 907", dict(storeys=2, bays=(3, 3), seed=907)),
             ("generated 1 storey 4×2 bays, seed 911", dict(storeys=1, bays=(4, 2), seed=911)),
             ("generated 2 storeys 4×3 bays, seed 929", dict(storeys=2, bays=(4, 3), seed=929)),
             ("generated 1 storey 3×2 bays, seed 931", dict(storeys=1, bays=(3, 2), seed=931)),
             ("generated 3 storeys 2×2 bays, seed 937", dict(storeys=3, bays=(2, 2), seed=937)),
             ("generated steel, 2 storeys 3×2 bays, seed 941", dict(storeys=2, bays=(3, 2), seed=941,
                                                                    structure="steel")),
             ("generated gable roof, 1 storey 3×2 bays, seed 943", dict(storeys=1, bays=(3, 2), seed=943,
                                                                        roof="gable"))]


NOTES = """## Reading the figures

- **Against issue #5's targets** (generated buildings, default noise, unseen seeds): the refined
  pose is **met**: median 4.3 cm / 0.28° and 4.2 cm / 0.31° (target ≤ 5 cm and ≤ 0.5°), from
  34–41 cm priors. Status F1 is **missed**: 0.93 and 0.92 overall (target ≥ 0.95). Per class
  with ≥ 20 samples, beams (1.00, 0.98) and windows (1.00) meet ≥ 0.9 and **walls do not (0.81,
  0.85)**: the detector finds boarded and finished walls least reliably (docs/detector.md).
  Columns have 16 samples (0.97, 1.00). MEP classes have 1–3 samples each and are mostly missed.
- **What moved since the last table** (F1 0.81/0.81, pose 12/24 cm): the detector's third
  training run (held-out mAP50 0.27 → 0.48) and its operating threshold chosen on separate
  tuning layouts (0.1, bench/threshold.py); and registration that weighs the pose prior (a MAP
  search), scores edges to a fraction of a pixel, keeps the prior when one small element is all
  it could anchor on, and searches again when the refined pose matches more detections.
- **Precision is 1.0 everywhere, recall is the problem.** Fusion only calls an element installed
  on detections; every missed element counts as a false negative here, none is invented. On real
  site photographs precision will not be 1.0: the renderer draws no people, clutter or real
  materials.
- **Real models**: F1 from 0.13 (ISSUE_021) to 1.00. ISSUE_021 (96 steel beams and columns) and
  FZK-Haus (31 roof rafters) are mostly beams the detector does not find on them; an element never
  detected stays unknown (an absent claim weighs by the class's held-out AP), so it counts as
  missed. Pose follows what is detected: 4–8 cm where walls and slabs are found (duplex, 3rooms,
  IfcOpenHouse, b03), 24–49 cm where little is (webifc_example's columns, Office_A, ISSUE_021,
  the scheduling task; Office_A and the scheduling task are worse than in the last table, 12 → 28
  and 38 → 44 cm, the others better): refinement never returns a pose scoring worse than the prior, and a pose
  anchored on fewer than 300 boundary points stays at the prior, but a better edge score on a
  few elements is not always a better pose.
- **Stage accuracy** trails recall: walls and ceilings need the stage classes the detector
  confuses most (boarded vs finished).
- **Not walkable**: Ifc2s3_Duplex_Electrical, hvac_heating and ROOT-houten_kozijnen have no floor
  slabs (MEP or window-frame subcontractor models), so no storey has floor underfoot for a walk.
- **Speed**: the s/frame column was measured while the test suite ran on the same two cores, so
  it is about twice what the loop takes alone; bench/process.py measures it alone.
"""


def evaluate(path: Path, args) -> dict:
    command = [sys.executable, "-m", "webapp", "evaluate", str(path), "--walks", str(args.walks), "--frames",
               str(args.frames), "--width", str(args.width), "--seed", "7", "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", type=int, default=3)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--only", nargs="*", default=None, help="model names to run (default: all)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    results = []
    labels = {f"gen-{spec['seed']}.ifc": label for label, spec in GENERATED}
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for label, spec in GENERATED:
            path = Path(tmp) / f"gen-{spec['seed']}.ifc"
            generate_building(path, **spec)
            models.append((label, path))
        models += [(p.name, p) for p in sorted((REPO.parent / "shared" / "ifc").glob("*.ifc"))]
        for label, path in models:
            if args.only and label not in args.only and path.stem not in args.only:
                continue
            report = evaluate(path, args)
            results.append((labels.get(path.name, label), report))
            print(json.dumps({"model": label, **report}), file=sys.stderr)
    if args.write:
        write_doc(results, args)
    print(json.dumps({"results": [{"model": label, **report} for label, report in results]}))


def write_doc(results, args) -> None:
    lines = ["# Accuracy", "",
             "Every figure comes from `sitetwin evaluate` (the whole loop on simulated walks: as-built state from "
             "the model's own 4D schedule or a derived trade-order one, seeded slips, pose priors with σ 0.3 m and "
             "5° yaw, domain-randomised rendering, the bundled detector, registration, fusion) on models the "
             f"detector was not trained on: {len(GENERATED)} generated layouts with unseen seeds (one "
             "steel-framed, one with a gable roof), and every real model in "
             "`../shared/ifc`. Scores count (walk, element) pairs for elements visible in the walk; "
             "\"installed\" is stage ≥ 1.", "",
             f"Command: `.venv/bin/python bench/accuracy.py --walks {args.walks} --frames {args.frames} "
             f"--width {args.width} --write` (each row: `sitetwin evaluate MODEL.ifc --walks {args.walks} "
             f"--frames {args.frames} --width {args.width} --seed 7 --json`).", "",
             "## Overall", "",
             "| model | schedule | frames | elements | precision | recall | F1 | stage acc. | pose prior median cm "
             "| pose median cm | p90 cm | median ° | p90 ° | s/frame |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in results:
        if "error" in r:
            lines.append(f"| {label} | – | – | – | – | – | – | – | – | – | – | – | – | – | (did not run: {r['error']}) |")
            continue
        o, p = r["overall"], r["pose"]
        per_frame = sum(v for k, v in r["timing"].items() if k != "simulate")
        lines.append(f"| {label} | {r['schedule']} | {r['frames']} | {o['elements']} | {_fmt(o['precision'])} | "
                     f"{_fmt(o['recall'])} | {_fmt(o['f1'])} | {_fmt(o['stage_accuracy'])} | "
                     f"{_fmt(p['prior_median_cm'])} | {_fmt(p['median_cm'])} | {_fmt(p['p90_cm'])} | "
                     f"{_fmt(p['median_deg'])} | {_fmt(p['p90_deg'])} | {per_frame:.2f} |")
    lines += ["", "## Per class", ""]
    for label, r in results:
        if "error" in r or not r["per_class"]:
            continue
        lines += [f"### {label}", "", "| class | samples | precision | recall | F1 | stage acc. |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {cls} | {m['samples']} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
                  f"{_fmt(m['stage_accuracy'])} |" for cls, m in r["per_class"].items()]
        lines.append("")
    (REPO / "docs" / "accuracy.md").write_text("\n".join(lines) + "\n" + NOTES)


if __name__ == "__main__":
    main()
