"""Renderer cost against its floor: `render_equirect` vs the bare `cast_rays` of the same rays.

For a generated building (and a real model when ../shared is present), in one run: the bare
Open3D `RaycastingScene.cast_rays` over the 2048×1024 rays of a panorama (scene already built),
then the full render (rays, cast, id mapping, shading; no noise/blur/JPEG, and with the
domain-randomised appearance). Median of --repeat runs. Target: ≤ 1.5×.

    .venv/bin/python bench/render.py [--width 2048] [--repeat 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import open3d as o3d

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402
from twin.ifc import open_model  # noqa: E402
from twin.model import build_twin  # noqa: E402
from vision.equirect import world_rays  # noqa: E402
from vision.pose import Pose  # noqa: E402
from vision.render import Appearance, RenderScene, render_equirect  # noqa: E402

TARGET = 1.5


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, twin, pose: Pose, width: int, repeat: int) -> dict:
    scene = RenderScene(twin)
    state = scene.full_state()
    element_scene = scene.scene(state)
    origin, directions = world_rays(pose, width)
    rays = np.empty(directions.shape[:-1] + (6,), np.float32)
    rays[..., :3], rays[..., 3:] = origin, directions
    tensor = o3d.core.Tensor(rays)
    bare = median_time(lambda: element_scene.scene.cast_rays(tensor), repeat)
    plain = median_time(lambda: render_equirect(scene, pose, width, state), repeat)
    randomised = Appearance(seed=1, colour_jitter=0.08)
    jittered = median_time(lambda: render_equirect(scene, pose, width, state, randomised), repeat)
    return {"model": name, "triangles": int(element_scene.n_triangles), "width": width, "cast_s": round(bare, 3),
            "render_s": round(plain, 3), "render_randomised_s": round(jittered, 3),
            "ratio": round(plain / bare, 2), "ratio_randomised": round(jittered / bare, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ifc"
        generate_building(path, storeys=3, bays=(4, 3), seed=5)
        results.append(measure("generated 3 storeys 4×3 bays", build_twin(open_model(path)), Pose(9.0, 3.0, 1.7, 0.3),
                               args.width, args.repeat))
    real = REPO.parent / "shared" / "ifc" / "AC20-FZK-Haus.ifc"
    if real.exists():
        results.append(measure(real.name, build_twin(open_model(real)), Pose(5.0, 5.0, 1.6), args.width, args.repeat))
    for r in results:
        print(json.dumps(r), file=sys.stderr)
    if args.write:
        from bench_doc import write_section

        lines = [f"Full `render_equirect` against the bare `RaycastingScene.cast_rays` of the same {args.width}×"
                 f"{args.width // 2} rays (scene built beforehand), median of {args.repeat}. Target ≤ {TARGET}×.",
                 "", "| model | triangles | cast s | render s | ratio | randomised render s | ratio |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['triangles']} | {r['cast_s']} | {r['render_s']} | {r['ratio']} | "
                  f"{r['render_randomised_s']} | {r['ratio_randomised']} |" for r in results]
        lines += ["", "Missed: the target assumed shading is cheap next to the cast, but Embree casts 2 M rays in "
                  "~0.13 s on two cores, while numpy shades single-threaded: the procedural textures (studs, "
                  "board seams, ceiling grid, concrete speckle) gather hit points and take modulos over every "
                  "textured pixel (~0.17 s), the colour lookup and lighting ~0.05 s, the ray array ~0.03 s. "
                  "Camera rays are cached per width and the id/colour mapping is table lookups already. What "
                  "would close it: shading in a compiled kernel (numba or Open3D tensor ops, multi-threaded) or "
                  "textures baked per triangle instead of computed per pixel.",
                  "", f"Reproduce: `.venv/bin/python bench/render.py --repeat {args.repeat} --write`"]
        write_section("Rendering (`bench/render.py`)", lines)
    print(json.dumps({"target": TARGET, "results": results}))


if __name__ == "__main__":
    main()
