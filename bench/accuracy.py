"""The accuracy table of docs/accuracy.md: `sitetwin evaluate` on generated layouts never used in
training and on every real model in ../shared/ifc that has a storey to walk.

    .venv/bin/python bench/accuracy.py [--walks 3] [--frames 6] [--width 1024] [--write]

With ``--longer``, only the generated layouts, once per ``--seed`` (walks and priors differ by
seed), into the section *Longer walks* of docs/accuracy.md: more frames a layout than the main
table affords for every model, so a median moves less with one frame.

    .venv/bin/python bench/accuracy.py --longer --walks 4 --frames 8 --seed 7 8 [--write]
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

from bench_doc import write_section  # noqa: E402

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
  ≥ 0.95 overall is **met on all seven layouts**: 907 1.00, 911 1.00, 929 1.00, 931 1.00, 937
  0.99, steel 941 1.00 and the gable-roofed 943 0.99. Per class with ≥ 20 samples, F1 ≥ 0.9
  holds everywhere. The refined pose is **met on six of seven**: median 0.9–2.2 cm and
  0.05–0.13° from 33–41 cm priors. The gable-roofed 943 misses the position here: 9.5 cm (18.4
  in the table before; its yaw, 0.13°, meets the target). With 32 frames a layout instead of 10
  (*Longer walks* at the end, two seeds), all seven layouts meet every target, 943 at 3.5 and
  2.6 cm.
- **Why 943 fails over ten frames** (examined one by one with the detector before run 7,
  2026-11-29; a diagnosis on a reported layout, which chose nothing; not repeated with run 7).
  Five frames are in the attic. Two of them settled one rafter along, 84–87 cm off. A third did
  too, although its prior was only 15 cm off and the truth scores better: the first search level
  (24-px truncation, 0.3 m steps) goes wrong. The other two ended 5 and 10 cm off. Of the five
  frames below the attic, two ended 26 and 43 cm off. These are first-walk frames: nothing is
  believed built yet, and detections of built walls have boxes that also fit unbuilt
  partitions, which anchor the search. Given only what is truly built, those two frames
  registered to 2–3 cm, and the three attic frames a rafter off stayed there. The median of ten
  frames with five of them off is one of those five.
- **How to read the layouts.** 907 and 911 were used to diagnose registration in an earlier
  session, 929 to choose 8 visibility layers, and 943 to find why rafters were missed and why
  attic poses failed; 931–941 are untouched by any choice. The detector threshold and NMS IoU
  (bench/threshold.py) were chosen on the tuning layouts 913/917 and gable 953, steel 959 and
  steel gable 961, as were the pose search's settings (bench/pose.py: `POLISH_EVALS`,
  `PRIOR_SIGMA_TILT`, `EDGE_SHIFT` and the rest in vision/register.py). The detector's held-out
  layout 907 chose run 7's epoch only through renders of other seeds (docs/detector.md).
- **What moved since the last table** (2026-11-29, the next session). One change: **the
  detector**, run 7 (held-out mAP50 0.73 against 0.57; docs/detector.md), at its own operating
  point, confidence 0.15 and NMS IoU 0.5 (run 6: 0.1 and 0.7), chosen by the tuning layouts.
  - F1 went up on 911 (0.99 → 1.00: 23 of 23 walls, 22 before), 929 (0.99 → 1.00: its stair),
    931 (0.99 → 1.00: 15 of 15 columns, 14 before), steel 941 (0.98 → 1.00: 22 of 22 windows, 20
    before, and its stair) and IfcOpenHouse (0.62 → 0.68: 5 of 18 roof beams found, 3 before).
  - It went down on 943 (1.00 → 0.99: 54 of 55 rafters), FZK-Haus (0.97 → 0.94: 27 of 30
    rafters and 5 of 7 walls, against all and 6; both railings now), duplex (0.95 → 0.90: both
    its beams missed) and webifc_example (0.98 → 0.96: 20 of 22 columns, 21 before); 937 stays
    at 0.99 (one stair of 3 found, 2 before). The rafters lost on FZK-Haus and 943 are what
    the NMS IoU of 0.5 costs (rows of overlapping boxes; the card says why 0.7 had been chosen
    before). Checked afterwards on these two alone, at IoU 0.7, a measurement these results
    prompted and nothing adopted: 943 finds 55 of 55 rafters (F1 1.00, but pose 19.2 cm) and
    FZK-Haus 29 of 30 (F1 0.96, pose 1.9 cm).
  - Pose medians went down on 907 (1.9 → 1.4 cm), 929 (1.3 → 0.9), 941 (1.53 → 1.47), 943 (18.4 →
    9.5), FZK-Haus (2.8 → 1.6) and b03 (14.4 → 2.8), and up on 911 (1.2 → 1.6), 931 (2.1 →
    2.2), 937 (0.9 → 1.0), IfcOpenHouse (2.4 → 2.7), duplex (0.7 → 0.8), the scheduling task
    (34.5 → 35.6) and webifc_example (2.8 → 13.6; 5 frames, a median of them moves with one).
- **Precision is 1.0 everywhere; recall is the problem.** Fusion only calls an element installed
  on detections, so every missed element counts as a false negative here and none is invented.
  On real site photographs precision will not be 1.0: the renderer draws no people, clutter or
  real materials.
- **Real models.**
  - F1 ranges from 0.68 (IfcOpenHouse: 18 roof beams, 5 found; the detector scores its roof
    beams 0.21 mAP50, docs/detector.md) to 1.00.
  - Pose is 1–14 cm where walls and slabs are found, and 36 cm on the scheduling task. That
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


LONGER = "Longer walks on the generated layouts"
#: Reading of the longer walks (figures from the session that measured them).
LONGER_NOTES = [
    "Reading (2026-11-29, with the detector's run 7). A disclosure first: this section was added, with "
    "run 6, after the main table's 943 row failed the pose target (18.4 cm over 10 frames, 5 of them in "
    "the attic, where one frame moves the median by decimetres). 32 frames a layout (4 walks of 8), at "
    "the main table's seed 7 and at seed 8, each run once and both kept; nothing was chosen on them. "
    "Every generated layout meets every target at both seeds: F1 0.99–1.00, the lowest class with ≥ 20 "
    "samples 0.94 (937's columns, seed 8), pose medians 0.75–3.49 cm and 0.08–0.17°. 943 is at 3.5 cm "
    "(seed 7) and 2.6 cm (seed 8), inside the target but with the widest tail (p90 31 and 42 cm): attic "
    "frames that settle one rafter along (docs/benchmarks.md, *Attic registration*) and first-walk frames"
    " anchored on unbuilt partitions (*Why 943 fails over ten frames* above). With run 6 the same walks "
    "gave F1 0.97–1.00, lowest class 0.96, pose medians 0.59–4.21 cm, 943 at 4.2 and 1.6 cm.",
]


def evaluate(path: Path, args, seed: int = 7) -> dict:
    command = [sys.executable, "-m", "webapp", "evaluate", str(path), "--walks", str(args.walks), "--frames",
               str(args.frames), "--width", str(args.width), "--seed", str(seed), "--json"]
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
    parser.add_argument("--longer", action="store_true", help="the generated layouts only, per seed")
    parser.add_argument("--seed", type=int, nargs="+", default=[7],
                        help="walk seeds (more than one: --longer)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.longer:
        longer(args)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        models = generated_models(Path(tmp))
        models += [(p.name, p) for p in sorted((REPO.parent / "shared" / "ifc").glob("*.ifc"))]
        for label, path in models:
            if args.only and label not in args.only and path.stem not in args.only:
                continue
            report = evaluate(path, args, args.seed[0])
            results.append((label, report))
            print(json.dumps({**report, "model": label}), file=sys.stderr)
    if args.write:
        write_doc(results, args)
    print(json.dumps({"results": [{**report, "model": label} for label, report in results]}))


def generated_models(folder: Path) -> list[tuple[str, Path]]:
    """(label, IFC path) of each of :data:`GENERATED`, generated into ``folder``."""
    models = []
    for label, spec in GENERATED:
        path = folder / f"gen-{spec['seed']}.ifc"
        generate_building(path, **spec)
        models.append((label, path))
    return models


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
    doc = REPO / "docs" / "accuracy.md"
    kept = doc.read_text() if doc.exists() else ""
    kept = kept[kept.find(f"## {LONGER}"):] if f"## {LONGER}" in kept else ""  # the last section
    doc.write_text("\n".join(lines) + "\n" + NOTES + ("\n" + kept if kept else ""))


def longer(args) -> None:
    """The generated layouts at each of ``args.seed``: one table a seed, into the section LONGER."""
    seeds = " ".join(map(str, args.seed))
    run = f"--walks {args.walks} --frames {args.frames} --width {args.width}"
    lines = [f"Command: `.venv/bin/python bench/accuracy.py --longer {run} --seed {seeds} --write` "
             f"(each row: `sitetwin evaluate MODEL.ifc {run} --seed S --json`). Against issue #5's targets: "
             "status F1 ≥ 0.95 overall and ≥ 0.9 for each class with ≥ 20 samples (the lowest such class "
             "is shown), pose median ≤ 5 cm and ≤ 0.5°.", ""]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        models = generated_models(Path(tmp))
        for seed in args.seed:
            lines += [f"Seed {seed}:", "",
                      "| model | frames | elements | F1 | lowest class F1 (samples) | pose prior median cm | "
                      "pose median cm | p90 cm | median ° | targets |",
                      "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
            for label, path in models:
                r = evaluate(path, args, seed)
                out.append({**r, "model": label, "seed": seed})
                print(json.dumps(out[-1]), file=sys.stderr)
                if "error" in r:
                    lines.append(f"| {label} | – | – | – | – | – | – | – | – | did not run: {r['error']} |")
                    continue
                o, p = r["overall"], r["pose"]
                big = [(m["f1"] or 0.0, cls, m["samples"]) for cls, m in r["per_class"].items()
                       if m["samples"] >= 20]
                low = min(big) if big else None
                met = ((o["f1"] or 0) >= 0.95 and (low is None or low[0] >= 0.9) and p["median_cm"] <= 5.0
                       and p["median_deg"] <= 0.5)
                lines.append(f"| {label} | {r['frames']} | {o['elements']} | {_fmt(o['f1'])} | "
                             + (f"{low[1]} {low[0]:.2f} ({low[2]})" if low else "–") + " | "
                             f"{_fmt(p['prior_median_cm'])} | {_fmt(p['median_cm'])} | {_fmt(p['p90_cm'])} | "
                             f"{_fmt(p['median_deg'])} | {'met' if met else '**not met**'} |")
            lines.append("")
    if args.write:
        write_section(LONGER, lines + LONGER_NOTES, doc=REPO / "docs" / "accuracy.md")
    print(json.dumps({"results": out}))


if __name__ == "__main__":
    main()
