"""What localisation without a pose prior costs (vision/localise.py), against registration's pose
search from a good prior, measured in the same run on the same frames.

For each model (a generated building of the unseen seed 971, and the real models of ../shared/ifc
that can be walked): the as-built state at the middle of its schedule (its own 4D schedule, or a
derived trade-order one); per storey that has floor to stand on, the layout's pre-computation
(seconds, and seconds per 100 m² of walkable floor: standing points × their cell); then a simulated
walk of ``--frames`` frames on the storey with the most floor: each frame registered from a prior
of today's error (σ 0.3 m, 5°) by :func:`vision.register.register_frame` (the floor; no detections,
so registration's own cost), and from nothing but the storey: localised (coarse search and
confirmation; the walk's Viterbi pass is negligible) and then registered from where it was found,
as processing does. The expected state is the
true one here (the service uses the plan and what is believed): this measures cost, not accuracy
(docs/accuracy.md has that).

    .venv/bin/python bench/localise.py [--frames 8] [--width 1024] [--no-real] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_doc import write_section  # noqa: E402

from twin.asbuilt import as_built, derive_schedule, tasks_from_ifc  # noqa: E402
from twin.generate import generate_building  # noqa: E402
from twin.ifc import open_model  # noqa: E402
from twin.model import build_twin  # noqa: E402
from vision import localise  # noqa: E402
from vision.frame_file import decode_frame  # noqa: E402
from vision.pose import Pose  # noqa: E402
from vision.pose_search import edge_distance  # noqa: E402
from vision.register import register_frame  # noqa: E402
from vision.render import RenderScene  # noqa: E402
from vision.simulate import PoseNoise, simulate_capture  # noqa: E402

SHARED = REPO.parent / "shared" / "ifc"
GENERATED = ("generated 3 storeys 3×2 bays, seed 971", dict(storeys=3, bays=(3, 2), seed=971))


def measure(path: Path, frames: int, width: int, work: Path) -> dict:
    model = open_model(path)
    twin = build_twin(model)
    scene = RenderScene(twin)
    tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements}) or derive_schedule(
        twin, dt.date(2027, 1, 4))
    tracked = [e.tracked_class if e.physical else None for e in twin.elements]
    history = as_built(twin.global_ids, tracked, [e.storey for e in twin.elements], tasks, seed=971)
    start, finish = min(t.start for t in tasks), max(t.finish for t in tasks)
    state = history.stages_at(start + (finish - start) * 2 // 3)
    expected = (state > 0).astype(np.int8)
    layouts, layout_seconds, area = [], 0.0, 0.0
    for storey in twin.storeys:
        t0 = time.perf_counter()
        try:
            layout = localise.storey_layout(twin, scene, expected, storey.global_id)
        except ValueError:
            layout = None
        if layout is not None:
            layout_seconds += time.perf_counter() - t0
            area += len(layout.points) * localise.STANDING_STEP ** 2
            layouts.append(layout)
    if not layouts:
        raise ValueError("no storey has floor to stand on with clearance around")
    layout = max(layouts, key=lambda item: len(item.points))
    capture = simulate_capture(twin, state, layout.storey, work, frames=frames, seed=971, width=width,
                               pose_noise=PoseNoise(), render_scene=scene, prior="noisy")
    manifest = json.loads((work / "capture.json").read_text())
    built = scene.scene(expected)
    believed = expected > 0
    localise_s, register_s, after_s = [], [], []
    for entry in manifest["frames"]:
        image = decode_frame((work / entry["file"]).read_bytes(), 2**62)
        prior = Pose.from_dict(entry["pose_prior"])
        t0 = time.perf_counter()
        register_frame(twin, scene, image, prior, believed, [])
        register_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        found = localise.frame_hypotheses(localise.frame_distance(image), [layout], built,
                                          (prior.pitch, prior.roll))
        confirmed = localise.confirm_hypotheses(found, edge_distance(image), built)
        localise_s.append(time.perf_counter() - t0)
        if confirmed:
            t0 = time.perf_counter()
            register_frame(twin, scene, image, confirmed[0].pose, believed, [], localised=True)
            after_s.append(time.perf_counter() - t0)
    return {"elements": len(twin.elements), "storeys": len(layouts), "walkable_m2": round(area, 1),
            "layout_s": round(layout_seconds, 2), "layout_s_per_100m2": round(100 * layout_seconds / area, 2),
            "frames": capture.frames, "register_s": round(statistics.median(register_s), 3),
            "localise_s": round(statistics.median(localise_s), 3),
            "register_localised_s": round(statistics.median(after_s), 3) if after_s else None,
            "ratio": round((statistics.median(localise_s) + statistics.median(after_s or register_s))
                           / statistics.median(register_s), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--no-real", action="store_true", help="the generated building only")
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated.ifc"
        generate_building(generated, **GENERATED[1])
        models = [(GENERATED[0], generated)]
        if not args.no_real:
            models += [(path.name, path) for path in sorted(SHARED.glob("*.ifc"))]
        for k, (label, path) in enumerate(models):
            print(f"[{k + 1}/{len(models)}] {label}", file=sys.stderr)
            try:
                results[label] = measure(path, args.frames, args.width, Path(tmp) / f"walk-{k}")
            except (ValueError, RuntimeError) as error:
                results[label] = {"error": str(error)}
    print(json.dumps(results))
    if args.write:
        rows = ["| model | storeys | walkable m² | layouts s | s / 100 m² | registration s / frame | "
                "localisation s / frame | then registration s | no prior ÷ good prior |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, r in results.items():
            if "error" in r:
                rows.append(f"| {label} (not measured: {r['error']}) | – | – | – | – | – | – | – | – |")
            else:
                rows.append(f"| {label} | {r['storeys']} | {r['walkable_m2']} | {r['layout_s']} | "
                            f"{r['layout_s_per_100m2']} | {r['register_s']} | {r['localise_s']} | "
                            f"{r['register_localised_s']} | {r['ratio']}× |")
        write_section("Localisation without a pose prior (`bench/localise.py`)", [
            f"Command: `.venv/bin/python bench/localise.py --frames {args.frames} --width {args.width} --write`. "
            "Per model, the layouts of every storey one can stand on at two thirds of its schedule (pre-computed "
            "once per revision and expected state, and cached), then per frame of a simulated walk: "
            "registration from a prior of today's error (the floor; no detections), and from nothing but the "
            "storey: localisation (coarse search and confirmation; the walk's Viterbi pass is negligible), then "
            "registration from where it was found (its fine levels only). Medians over the frames; \"no prior ÷ "
            "good prior\" is (localisation + its registration) ÷ registration. Issue #24's target is ≤ 2×.", "", *rows])


if __name__ == "__main__":
    main()
