"""Storey floor plan: ``storey_plan`` + ``plan_svg_paths`` on the largest storey of a big generated building.

    .venv/bin/python bench/plan.py [--storeys 2] [--bays 40 35] [--tile 3] [--twin cache.npz] [--write]

The building is generated and tessellated first (minutes for ~40,000 elements on two cores; ``--twin``
keeps the twin cache between runs). ``--tile k`` also times the same storey inside a building of k
copies of the twin on other storeys, for the passes that scale with the whole building's triangles.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.geometry import Geometry  # noqa: E402
from twin.model import Twin, build_twin, load_twin, save_twin  # noqa: E402
from twin.plan import plan_svg_paths, storey_plan  # noqa: E402


def make_twin(storeys: int, bays: tuple[int, int], cache: Path | None) -> Twin:
    if cache is not None and cache.exists():
        return load_twin(cache)
    from twin.generate import generate_building
    from twin.ifc import open_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.ifc"
        generate_building(path, storeys=storeys, bays=bays, seed=1)
        twin = build_twin(open_model(path), threads=2)
    if cache is not None:
        save_twin(twin, cache)
    return twin


def tile(twin: Twin, k: int) -> Twin:
    """k copies of the twin; copy j > 0 has its elements on storeys of their own (GlobalIds suffixed)."""
    g = twin.geometry
    elements = list(twin.elements)
    for j in range(1, k):
        elements += [dataclasses.replace(e, global_id=f"{e.global_id}/{j}",
                                         storey=e.storey and f"{e.storey}/{j}") for e in twin.elements]
    storeys = list(twin.storeys) + [dataclasses.replace(s, global_id=f"{s.global_id}/{j}")
                                    for j in range(1, k) for s in twin.storeys]
    geometry = Geometry(
        vertices=np.concatenate([g.vertices] * k),
        triangles=np.concatenate([g.triangles + j * len(g.vertices) for j in range(k)]).astype(np.int32),
        triangle_element=np.concatenate([g.triangle_element + j * len(twin.elements) for j in range(k)]),
        aabb=np.concatenate([g.aabb] * k), shaped=np.concatenate([g.shaped] * k))
    return Twin(twin.schema, elements, storeys, geometry)


def measure(twin: Twin, storey: str, repeat: int) -> dict:
    plan_s, svg_s = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        plan = storey_plan(twin, storey)
        planned = time.perf_counter()
        paths = plan_svg_paths(plan)
        plan_s.append(planned - started)
        svg_s.append(time.perf_counter() - planned)
    svg = "".join(f'<path d="{d}"/>' for d in paths).encode()
    return {"building_elements": len(twin.elements), "building_triangles": len(twin.geometry.triangles),
            "storey_elements": len(plan), "kinds": dict(collections.Counter(plan.kind.tolist())),
            "vertices": len(plan.points), "plan_s": round(statistics.median(plan_s), 3),
            "svg_s": round(statistics.median(svg_s), 3), "path_bytes": sum(len(d) for d in paths),
            "svg_bytes": len(svg), "svg_gzip_bytes": len(gzip.compress(svg))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storeys", type=int, default=2)
    parser.add_argument("--bays", type=int, nargs=2, default=(40, 35))
    parser.add_argument("--tile", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--twin", type=Path, help="twin cache (.npz): read if present, else written")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    twin = make_twin(args.storeys, tuple(args.bays), args.twin)
    counts = collections.Counter(e.storey for e in twin.elements if e.physical and e.storey)
    storey = counts.most_common(1)[0][0]
    results = [measure(twin, storey, args.repeat)]
    if args.tile > 1:
        results.append(measure(tile(twin, args.tile), storey, args.repeat))
    if args.write:
        from bench_doc import write_section

        lines = [f"`storey_plan` + `plan_svg_paths` on the largest storey of `generate_building(storeys="
                 f"{args.storeys}, bays={tuple(args.bays)})`, median of {args.repeat}; the second row is the "
                 f"same storey in that twin tiled ×{args.tile} (the other copies on storeys of their own).",
                 "", "| building elements | building triangles | storey elements | plan s | SVG paths s "
                 "| SVG bytes | gzipped |", "|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['building_elements']:,} | {r['building_triangles']:,} | {r['storey_elements']:,} "
                  f"| {r['plan_s']} | {r['svg_s']} | {r['svg_bytes']:,} | {r['svg_gzip_bytes']:,} |"
                  for r in results]
        lines += ["", f"Reproduce: `.venv/bin/python bench/plan.py --storeys {args.storeys} "
                  f"--bays {args.bays[0]} {args.bays[1]} --tile {args.tile} --write`"]
        write_section("Storey floor plan (`bench/plan.py`)", lines)
    print(json.dumps(results))  # noqa: T201 (a script's output)


if __name__ == "__main__":
    main()
