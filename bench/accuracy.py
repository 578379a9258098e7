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

- **Against issue #5's targets** (generated buildings, default noise, unseen seeds). Status F1
  ≥ 0.95 overall is **met on all seven layouts**: 907 1.00, 911 0.99, 929 0.99, 931 0.99, 937
  0.99, steel 941 0.98 and the gable-roofed 943 1.00. Per class with ≥ 20 samples, F1 ≥ 0.9
  holds everywhere. The refined pose is **met on six of seven**: median 0.9–2.1 cm and
  0.09–0.16° from 33–41 cm priors. The gable-roofed 943 misses the position: 18.4 cm (18.9 in
  the table before; its yaw, 0.12°, meets the target).
- **Why 943 still fails** (its ten frames examined one by one, 2026-11-29; a diagnosis on a
  reported layout, which chose nothing). Five frames are in the attic. Two of them settle one
  rafter along, 84–87 cm off. A third does too, although its prior was only 15 cm off and the truth
  scores better: the first search level (24-px truncation, 0.3 m steps) goes wrong. The other two
  end 5 and 10 cm off. Of the five frames below the attic, two end 26 and 43 cm off. These are
  first-walk frames: nothing is believed built yet, and detections of built walls have boxes that
  also fit unbuilt partitions, which anchor the search. Given only what is truly built, those two
  frames register to 2–3 cm, and the three attic frames a rafter off stay there. The median of
  ten frames with five of them off is one of those five.
- **How to read the layouts.** 907 and 911 were used to diagnose registration in an earlier
  session, 929 to choose 8 visibility layers, and 943 to find why rafters were missed and why
  attic poses failed; 931–941 are untouched by any choice. The detector threshold and NMS IoU
  (bench/threshold.py) were chosen on the tuning layouts 913/917 and gable 953, steel 959 and
  steel gable 961, as were the pose search's settings (bench/pose.py: `POLISH_EVALS`,
  `PRIOR_SIGMA_TILT`, `EDGE_SHIFT` and the rest in vision/register.py).
- **What moved since the last table** (2026-11-29, later the same day). One change: **a
  continuous search over all six pose parameters ends the pose search** (`polish_pose`,
  Powell's method from scipy), height included, which the grid search never moved. On the
  tuning layouts it took the pose median from 2.2 to 1.3 cm (docs/benchmarks.md). Status
  figures hardly move: 911 loses one wall (1.00 → 0.99), 929's beams and 943's columns and
  windows gain one each.
  - Pose medians went down on 911 (2.7 → 1.2 cm), 929 (2.0 → 1.3), 931 (3.1 → 2.1), 937 (1.6
    → 0.9), 943 (18.9 → 18.4), 3rooms (2.8 → 2.6), FZK-Haus (4.0 → 2.8), b03 (17.9 → 14.4),
    duplex (1.1 → 0.7) and webifc_example (5.3 → 2.8).
  - They went up on 907 (1.3 → 1.9), 941 (1.45 → 1.53), IfcOpenHouse (2.0 → 2.4) and the
    scheduling task (34.0 → 34.5).
  - The yaw medians are 0.09–0.16° on the generated layouts (0.09–0.28° before).
  - The s/frame column is as before, because registration got faster by as much as the polish
    costs. `ufunc.at` had been taking a slow path, casting float32 tile coordinates on every
    call (docs/benchmarks.md, *Processing*).
- **The table before this one** (the same day) came from three changes: detections compared with
  elements in their tiles, a re-chosen operating point (confidence 0.1, NMS IoU 0.7), and a
  24-px first-level truncation. Those three took F1 up on 907, 911, 929, 943 and FZK-Haus and
  down on IfcOpenHouse (0.68 → 0.62: 3 of 18 roof beams found). The model card and
  docs/benchmarks.md have that session's measurements and the settings tried in between.
- **Precision is 1.0 everywhere; recall is the problem.** Fusion only calls an element installed
  on detections, so every missed element counts as a false negative here and none is invented.
  On real site photographs precision will not be 1.0: the renderer draws no people, clutter or
  real materials.
- **Real models.**
  - F1 ranges from 0.62 (IfcOpenHouse: 18 roof beams, 3 found; the detector scores its roof
    beams 0.10 mAP50, docs/detector.md) to 1.00; FZK-Haus's rafters are all found.
  - Pose is 1–18 cm where walls and slabs are found, and 34 cm on the scheduling task. That
    model is a box of stud-framed walls whose periodic studs score better than the true pose:
    checked frame by frame, the truth scores worse than the pose found.
- **Not walkable.** Walks and training views stand only on slabs, floor coverings and footings,
  not on whatever lies near a storey's elevation. Five models have no walk:
  - **Office_A** models no floor slabs (a walk once stood on top of level 1's suspended
    ceilings, looking down on their grid).
  - **ISSUE_021** would stand on four steel base plates.
  - **Ifc2s3_Duplex_Electrical, hvac_heating and ROOT-houten_kozijnen** have no floors at all
    (MEP and window-frame subcontractor models).
- **Stage accuracy trails recall.** Walls and ceilings need the stage classes the detector
  confuses most (boarded vs finished).
- **Speed.** The s/frame column sums the stages, which overlap (detection runs in its own
  process beside registration), on a machine doing nothing else. bench/process.py measures the
  wall time per frame. The column is about 0.2 s higher than in tables before 2026-11-29: the
  machine has run slower since (bare YOLO inference on a frame's tiles took 0.27–0.29 s in
  bench/process.py, against 0.16–0.19 s before).
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
