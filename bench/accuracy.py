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
  ≥ 0.95 overall is **met on six of seven layouts**: 907 0.98, 911 0.97, 929 0.97, 931 0.98, 937
  0.98, steel 941 0.98 (was 0.94). It is **missed** on the gable-roofed one (943, 0.90).
  Per class with ≥ 20 samples, F1 ≥ 0.9 holds everywhere but on 943's rafters (0.82: found in
  45 of 55 walk-element pairs); 929's beams rose from 0.897 to 0.94.
  The refined pose is **met on six of seven**: median 1.6–3.9 cm and 0.22–0.42° from 33–41 cm
  priors. The gable-roofed layout misses: 10 cm and 0.58°. Its attic's rafters are alike and
  0.9 m apart, and about a third of attic frames settle one rafter along (on a synthetic attic
  with every element built the truth scores better in most such frames: the search misses its
  basin rather than the score preferring the wrong rafter).
- **How to read the layouts.** 907 and 911 were used to diagnose registration in an earlier
  session, and 929 to choose 8 visibility layers; 931–943 are untouched by any choice. The
  detector threshold (bench/threshold.py) was chosen on the tuning layouts 913/917, the pose
  search's settings (bench/pose.py) on those and gable 953, steel 959 and steel gable 961.
- **What moved since the last table.** Two changes:
  - **Detector run 6** (held-out mAP50 0.56 → 0.59 on the same renders; walls, columns, beams
    and pipes up) and its re-chosen threshold (0.05): recall rose on 907, 929, 937 and 941
    (0.88 → 0.96), held on 943, fell slightly on 911 and 931 (0.96 → 0.95, 0.99 → 0.97), and rose
    on most real models (F1: FZK-Haus 0.70 → 0.76, IfcOpenHouse 0.55 → 0.68).
  - **Pose search**: the prior weighs 0.05 instead of 0.02, and the first level truncates edge
    distances at 12 px instead of 24 (bench/pose.py: p90 54 → 31 cm on the tuning layouts).
    It is not better everywhere: on webifc_example the median went from 4.7 to 16.6 cm and
    3.6°, which the 12 px truncation alone causes (at 24 px, same weights and threshold:
    4.4 cm); FZK-Haus goes the other way (6.4 cm against 14.1 cm at 24 px). The setting stays
    as chosen on the tuning layouts; these two real models were checked only afterwards.
- **Precision is 1.0 everywhere; recall is the problem.** Fusion only calls an element installed
  on detections, so every missed element counts as a false negative here and none is invented.
  On real site photographs precision will not be 1.0: the renderer draws no people, clutter or
  real materials.
- **Real models.**
  - F1 ranges from 0.68 (IfcOpenHouse: 18 roof beams, 5 found) to 1.00; FZK-Haus's rafters are
    found 42 % of the time.
  - Pose is 3–10 cm where walls and slabs are found; webifc_example's 16.6 cm is above; and 44 cm
    on the scheduling task. That model is a box of stud-framed walls whose periodic studs score
    better than the true pose: checked frame by frame, the truth scores worse than the pose found.
- **Not walkable.** Walks and training views now stand only on slabs, floor coverings and
  footings, not on whatever lies near a storey's elevation. Two models lose their walk, and three
  never had one:
  - **Office_A** models no floor slabs. Its earlier walk stood on top of level 1's suspended
    ceilings, looking down on their grid, which gave a consistent 28 cm pose error from fitting
    the grid.
  - **ISSUE_021** stood on four steel base plates.
  - **Ifc2s3_Duplex_Electrical, hvac_heating and ROOT-houten_kozijnen** have no floors at all
    (MEP and window-frame subcontractor models).
- **Stage accuracy trails recall.** Walls and ceilings need the stage classes the detector
  confuses most (boarded vs finished).
- **Speed.** The s/frame column was measured with the test suite and other runs beside it on
  the same two cores. bench/process.py measures it alone.
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
