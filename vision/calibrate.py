"""Observation confidences calibrated: a raw confidence mapped to how often such a claim is right.

Registration (:func:`vision.observe.observe`) makes a raw confidence for every "installed" and
"absent" claim from the detector's score and the element's share in view. How often those claims
are right depends on the class (a ceiling's absence is easier to misjudge than a column's), so a
table of monotone maps, per tracked class and kind, turns the raw value into the observed
accuracy: 0.7 means right 7 times in 10 on the timeline benchmark's training runs.

The table (``vision/calibration.json``) is fitted by ``bench/calibrate.py`` from
:func:`webapp.services.timeline.evaluate_timeline` runs on generated buildings with training
seeds only, by isotonic regression (pool adjacent violators) over equal-count bins; a class and
kind with too few claims keeps its raw confidence. Calibrated values stay within
[:data:`FLOOR`, :data:`CEILING`]: a claim is never evidence against itself, nor certain.
``SITETWIN_CALIBRATION`` names another table, or ``none`` for raw confidences.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

TABLE = Path(__file__).resolve().parent / "calibration.json"
FORMAT = "sitetwin-calibration/1"
FLOOR, CEILING = 0.5, 0.99


@lru_cache(maxsize=4)
def _load(path: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    if path == "none":
        return {}
    if not Path(path).is_file():  # a table named but missing is a misconfiguration, not "raw"
        raise FileNotFoundError(f"calibration table {path} not found (SITETWIN_CALIBRATION: a table, or 'none')")
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} table")
    return {(cls, kind): (np.asarray(m["raw"], float), np.asarray(m["calibrated"], float))
            for cls, kinds in data["maps"].items() for kind, m in kinds.items()}


def table_path() -> str:
    return os.environ.get("SITETWIN_CALIBRATION") or str(TABLE)


def calibrate(classes: Sequence[str | None], kinds: Sequence[str], raw: np.ndarray) -> np.ndarray:
    """(M,) calibrated confidences of M claims (class, kind "installed"/"absent", raw confidence).

    Classes and kinds without a map (and every other kind) keep their raw value."""
    raw = np.asarray(raw, dtype=np.float64)
    maps = _load(table_path())
    if not maps or not len(raw):
        return raw.copy()
    out = raw.copy()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for k, key in enumerate(zip(classes, kinds, strict=True)):
        groups[key].append(k)
    for key, rows in groups.items():
        if key in maps:
            knots, values = maps[key]
            out[rows] = np.clip(np.interp(raw[rows], knots, values), FLOOR, CEILING)
    return out


def isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``y`` (ordered by ``x``, ascending): pool
    adjacent violators. Returns (len(y),) fitted values."""
    means, weights, sizes = [], [], []
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        means.append(value)
        weights.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            weights[-2] = total
            sizes[-2] += sizes[-1]
            del means[-1], weights[-1], sizes[-1]
    return np.repeat(means, sizes)


def fit_map(raw: np.ndarray, right: np.ndarray, bins: int = 12) -> tuple[list[float], list[float]]:
    """Knots (raw, calibrated) of the monotone map of one class and kind: equal-count bins of the
    raw confidence, their accuracies made non-decreasing (:func:`isotonic`)."""
    order = np.argsort(raw, kind="stable")
    raw, right = np.asarray(raw, float)[order], np.asarray(right, float)[order]
    chunks = [c for c in np.array_split(np.arange(len(raw)), min(bins, len(raw))) if len(c)]
    x = np.array([raw[c].mean() for c in chunks])
    y = np.array([right[c].mean() for c in chunks])
    w = np.array([len(c) for c in chunks], float)
    fitted = np.clip(isotonic(x, y, w), FLOOR, CEILING)
    return [round(float(v), 4) for v in x], [round(float(v), 4) for v in fitted]


def fit_table(outcomes: Iterable[tuple[str, str, float, bool]], min_claims: int = 40, bins: int = 12,
              source: dict | None = None) -> dict:
    """The calibration table (JSON-ready) of (class, kind, raw confidence, right) claims."""
    groups: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    for cls, kind, confidence, right in outcomes:
        groups[(cls, kind)].append((confidence, right))
    maps: dict[str, dict] = defaultdict(dict)
    for (cls, kind), claims in sorted(groups.items()):
        if len(claims) < min_claims:
            continue
        raw, right = np.array(claims, dtype=float).T
        knots, values = fit_map(raw, right, bins)
        maps[cls][kind] = {"raw": knots, "calibrated": values, "claims": len(claims)}
    return {"format": FORMAT, "source": source or {}, "maps": dict(maps)}


def reliability(outcomes: Iterable[tuple[str, str, float, bool]],
                edges: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> dict[str, list[dict]]:
    """Per class: for each confidence bin, the mean confidence, the observed accuracy and the
    number of claims (both kinds together): the reliability diagram as a table."""
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for cls, _, confidence, right in outcomes:
        groups[cls].append((confidence, right))
    table = {}
    for cls, claims in sorted(groups.items()):
        conf, right = np.array(claims, dtype=float).T
        index = np.clip(np.digitize(conf, edges[1:-1]), 0, len(edges) - 2)
        rows = []
        for b in range(len(edges) - 1):
            hit = index == b
            if hit.any():
                rows.append({"bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}",
                             "confidence": round(float(conf[hit].mean()), 3),
                             "accuracy": round(float(right[hit].mean()), 3), "claims": int(hit.sum())})
        table[cls] = rows
    return table
