"""Time and size of one storey's GLB (``twin.gltf.storey_glb``) for a large generated storey.

A 150,000-element building of 20 storeys has about 7,500 elements a storey; one storey of 25 × 20
bays is that storey.

    .venv/bin/python bench/gltf.py [--bays 25 20] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from twin.generate import generate_building  # noqa: E402
from twin.gltf import storey_glb, storey_rows  # noqa: E402
from twin.ifc import open_model  # noqa: E402
from twin.model import build_twin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bays", type=int, nargs=2, default=(25, 20))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "storey.ifc"
        generate_building(path, storeys=1, bays=tuple(args.bays), seed=1)
        twin = build_twin(open_model(path))
    rows = storey_rows(twin, twin.storeys[0].global_id)
    triangles = int(np.isin(twin.geometry.triangle_element, rows).sum())
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        data = storey_glb(twin, rows)
        seconds.append(time.perf_counter() - started)
    json_bytes = int.from_bytes(data[12:16], "little")
    out = {"bays": list(args.bays), "nodes": len(rows), "triangles": triangles,
           "seconds": round(min(seconds), 3), "glb_mb": round(len(data) / 1e6, 2),
           "json_mb": round(json_bytes / 1e6, 2)}
    if args.write:
        from bench_doc import write_section

        write_section("3D twin storey GLB (`bench/gltf.py`)", [
            f"`storey_glb` on one generated storey of {tuple(args.bays)} bays: **{len(rows):,} nodes**, "
            f"{triangles:,} triangles, built in **{min(seconds):.2f} s** (best of {args.repeat}), "
            f"**{len(data) / 1e6:.1f} MB** of GLB ({json_bytes / 1e6:.1f} MB of it JSON).",
            "",
            f"Reproduce: `.venv/bin/python bench/gltf.py --bays {args.bays[0]} {args.bays[1]} --write`",
        ])
    print(json.dumps(out))  # noqa: T201 (the script's output)


if __name__ == "__main__":
    main()
