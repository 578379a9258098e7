"""Generation time of a sample building of 150,000+ elements (target: under 10 minutes here).

    .venv/bin/python bench/generate.py [--storeys 20] [--bays 25 20] [--write]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402

TARGET_S = 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storeys", type=int, default=20)
    parser.add_argument("--bays", type=int, nargs=2, default=(25, 20))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.ifc"
        result = generate_building(path, storeys=args.storeys, bays=tuple(args.bays), seed=1)
        size_mb = path.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"storeys": args.storeys, "bays": list(args.bays), "elements": result.element_count, "tasks": result.tasks,
           "seconds": result.seconds, "file_mb": round(size_mb, 1), "peak_rss_mb": round(peak_mb), "target_s": TARGET_S}
    if args.write:
        from bench_doc import write_section

        write_section("Sample-building generation (`bench/generate.py`)", [
            f"`generate_building(storeys={args.storeys}, bays={tuple(args.bays)})`: **{result.element_count:,} "
            f"elements** (physical, openings not counted), {result.tasks} tasks, written in "
            f"**{result.seconds:.0f} s** (target < {TARGET_S} s), {size_mb:.0f} MB of IFC, peak memory "
            f"{peak_mb:,.0f} MB.",
            "",
            f"Reproduce: `.venv/bin/python bench/generate.py --storeys {args.storeys} --bays {args.bays[0]} "
            f"{args.bays[1]} --write`",
        ])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
