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
  ≥ 0.95 overall is **met on six of seven layouts**: 907 0.98, 911 0.97, 929 0.98, 931 0.99, 937
  0.99, steel 941 0.98. It is **missed** on the gable-roofed one (943, 0.94; 0.90 two tables
  ago). Per class with ≥ 20 samples, F1 ≥ 0.9 now holds everywhere: 943's rafters are at 0.90
  (found in 45 of 55 walk-element pairs; 0.82 before), 929's beams at 0.95.
  The refined pose is **met on six of seven**: median 1.8–3.2 cm and 0.06–0.19° from 33–41 cm
  priors. The gable-roofed layout misses the position: 9.2 cm (6.7 two tables ago; on its ten
  frames, the five on the ground storey end 1–10 cm off, four of the five in the attic 16–78 cm
  off). Its attic's rafters are alike and 0.9 m apart: a frame whose prior is half a rafter off
  settles one rafter along (its score there beats the truth's), and others miss the truth's basin
  in the first search level. Using the walk's continuity (a helmet's tracking drifts slowly, so
  one frame's correction predicts the next's) took 943's median from 7.4 to 5.5 cm on 34
  recorded frames in a trial; it is not in the product (see docs/benchmarks.md). On the gable
  tuning layouts, bench/attic.py finds 58 % of the attic's rafter boundaries with no image edge
  within 3 px even at the true pose (unbuilt rafters among the anchors; far rafters closer together
  than the edge map resolves), and half the attic misses are the score preferring a wrong pose.
- **How to read the layouts.** 907 and 911 were used to diagnose registration in an earlier
  session, 929 to choose 8 visibility layers, and 943 to find why rafters were missed and why
  attic poses failed (below); 931–941 are untouched by any choice. The detector threshold and NMS
  IoU (bench/threshold.py) were chosen on the tuning layouts 913/917 and gable 953, steel 959 and
  steel gable 961, as were the pose search's settings (bench/pose.py: `PRIOR_SIGMA_TILT`,
  `EDGE_SHIFT` and the rest in vision/register.py).
- **What moved since the last table.** Two changes this session, each measured here:
  - **Boxes of one tile are no longer merged again on the panorama, and the detector's NMS IoU
    is 0.7** (was 0.5, chosen on the tuning layouts: docs/detector.md). A tile looking along an
    attic sees a row of rafters whose boxes overlap by more than 0.5, and one of each group
    survived. With true poses on 943, rafter recall went 0.74 → 0.93; on 24 frames of gable
    953, steel gable 961 and 943 (seed 11), F1 0.91 → 0.95, 0.94 → 0.97 and 0.93 → 0.95, pose
    medians the same or better. In the table, no F1 went down (929 0.97 → 0.98, 937 0.98 →
    0.99, 943 0.90 → 0.94, FZK-Haus 0.77 → 0.80, webifc_example 0.94 → 1.00).
  - **The pose prior's penalty includes pitch and roll** (σ 1°, the IMU's): a tilt step of the
    first search level was free, and some went the wrong way for good. Found on 943's attic
    frames; chosen on the tuning layouts (median / p90 2.8 / 37.3 → 2.6 / 29.2 cm). Against the
    table before it: position medians down on 911 (3.4 → 2.0 cm), 931 (3.8 → 2.4), 941 (2.2 →
    1.8), 943 (9.9 → 9.2), FZK-Haus (8.1 → 7.4), webifc_example (12.7 → 4.5 cm, its yaw 0.28 →
    0.16°) and b03 (12.4 → 11.4); up on 907 (2.6 → 3.2), 929 (2.6 → 3.1) and 937 (1.9 → 2.7), all
    within the target. Status F1: duplex 0.90 → 0.95, FZK-Haus 0.80 → 0.81, webifc_example 1.00
    → 0.98 (one of 22 column pairs lost); the rest unchanged.
- **Precision is 1.0 everywhere; recall is the problem.** Fusion only calls an element installed
  on detections, so every missed element counts as a false negative here and none is invented.
  On real site photographs precision will not be 1.0: the renderer draws no people, clutter or
  real materials.
- **Real models.**
  - F1 ranges from 0.68 (IfcOpenHouse: 18 roof beams, 5 found) to 1.00; FZK-Haus's rafters are
    found 60 % of the time.
  - Pose is 1–12 cm where walls and slabs are found, and 42 cm on the scheduling task. That
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
  wall time per frame.
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
