"""The fusion fit alone at a project's scale: 1,000,000 synthetic observations of 150,000 elements
(ten weekly captures of 100 frames; elements installed from a random week on, seen installed,
absent or not visible), fused in memory by `twin.fusion.fuse_arrays`. The stored path (read, fuse,
store statuses and history) is `bench/scale.py`'s fusion stage.

    .venv/bin/python bench/fusion_fit.py [--elements 150000] [--observations 1000000]

One JSON object on stdout: seconds, and the stages and review flags it found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.fusion import fuse_arrays  # noqa: E402


def observations(elements: int, count: int, seed: int = 7):
    """(element, frame, at, kind, stage, confidence, final stage) arrays, as fuse_arrays takes them."""
    rng = np.random.default_rng(seed)
    final = rng.integers(1, 5, elements)
    element = rng.integers(0, elements, count)
    capture = rng.integers(0, 10, count)
    frame = capture * 100 + rng.integers(0, 100, count)
    at = (np.datetime64("2026-09-01T09:00:00", "us")
          + (capture * 7 * 86400 + (frame % 100) * 5).astype("timedelta64[s]")).astype("datetime64[us]")
    installed_from = rng.integers(0, 13, elements)
    installed = capture >= installed_from[element]
    kind = np.where(rng.random(count) < 0.15, 2, np.where(installed, 1, 0))  # KIND_CODES: absent 0, installed 1
    stage = np.where(kind == 1, np.minimum(final[element], 1 + (capture - installed_from[element]) // 2), 0)
    confidence = np.round(np.where(kind == 1, 0.55 + 0.4 * rng.random(count),
                                   np.where(kind == 0, 0.5 + 0.25 * rng.random(count), 1.0)), 3)
    return element, frame, at, kind, stage, confidence, final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", type=int, default=150_000)
    parser.add_argument("--observations", type=int, default=1_000_000)
    args = parser.parse_args()
    arrays = observations(args.elements, args.observations)
    started = time.perf_counter()
    fused = fuse_arrays(*arrays)
    seconds = time.perf_counter() - started
    print(json.dumps({"elements": args.elements, "observations": args.observations, "seconds": round(seconds, 2),
                      "stages": np.bincount(fused.stage).tolist(), "needs_review": int(fused.needs_review.sum())}))


if __name__ == "__main__":
    main()
