"""Observation-confidence calibration: monotone maps fitted per class and kind, applied to raw confidences."""

import json

import numpy as np
import pytest

from vision import calibrate


def _claims(rng, n, cls, kind, accuracy):
    raw = rng.uniform(0.5, 1.0, n)
    right = rng.uniform(size=n) < accuracy(raw)
    return [(cls, kind, float(c), bool(r)) for c, r in zip(raw, right, strict=True)]


def test_isotonic_pools_violators_into_a_non_decreasing_fit():
    fitted = calibrate.isotonic(np.arange(5.0), np.array([0.2, 0.6, 0.4, 0.8, 0.7]), np.ones(5))
    np.testing.assert_allclose(fitted, [0.2, 0.5, 0.5, 0.75, 0.75])
    weighted = calibrate.isotonic(np.arange(2.0), np.array([0.9, 0.6]), np.array([1.0, 3.0]))
    np.testing.assert_allclose(weighted, [0.675, 0.675])


def test_a_fitted_table_maps_raw_confidences_to_how_often_claims_are_right(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    # Walls' installed claims are right less often than their raw confidence says; columns' absent
    # claims more often; doors have too few claims for a map.
    claims = (_claims(rng, 20000, "wall", "installed", lambda c: 0.5 + 0.6 * (c - 0.5))
              + _claims(rng, 20000, "column", "absent", lambda c: np.minimum(0.6 + 0.7 * (c - 0.5), 0.99))
              + _claims(rng, 10, "door", "installed", lambda c: 0.0 * c + 0.5))
    table = calibrate.fit_table(claims, min_claims=40)
    assert set(table["maps"]) == {"wall", "column"} and set(table["maps"]["wall"]) == {"installed"}
    for kinds in table["maps"].values():
        for m in kinds.values():
            assert np.all(np.diff(m["calibrated"]) >= 0) and np.all(np.diff(m["raw"]) >= 0)
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv("SITETWIN_CALIBRATION", str(path))
    raw = np.array([0.6, 0.9, 0.6, 0.9, 0.9, 0.9])
    out = calibrate.calibrate(["wall", "wall", "column", "column", "door", "wall"],
                              ["installed", "installed", "absent", "absent", "installed", "absent"], raw)
    np.testing.assert_allclose(out[:4], [0.56, 0.74, 0.67, 0.88], atol=0.04)
    assert out[4] == 0.9 and out[5] == 0.9  # no map: raw confidence kept
    # Held-out claims drawn the same way: calibrated, each bin's confidence is its accuracy.
    held = _claims(np.random.default_rng(1), 4000, "wall", "installed", lambda c: 0.5 + 0.6 * (c - 0.5))
    after = calibrate.calibrate([h[0] for h in held], [h[1] for h in held], [h[2] for h in held])
    before = calibrate.reliability(held)["wall"]
    calibrated = [(h[0], h[1], float(c), h[3]) for h, c in zip(held, after, strict=True)]
    rows = calibrate.reliability(calibrated)["wall"]
    assert sum(r["claims"] for r in rows) == 4000
    assert max(abs(r["confidence"] - r["accuracy"]) for r in before) > 0.1
    assert all(abs(r["confidence"] - r["accuracy"]) < 0.05 for r in rows if r["claims"] > 200)


def test_no_table_keeps_raw_confidences_and_calibrated_ones_stay_within_bounds(tmp_path, monkeypatch):
    monkeypatch.setenv("SITETWIN_CALIBRATION", "none")
    raw = np.array([0.55, 0.95])
    np.testing.assert_array_equal(calibrate.calibrate(["wall", "door"], ["installed", "absent"], raw), raw)
    table = {"format": calibrate.FORMAT, "maps": {"wall": {"installed": {"raw": [0.5, 1.0],
                                                                         "calibrated": [0.1, 1.0]}}}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv("SITETWIN_CALIBRATION", str(path))
    out = calibrate.calibrate(["wall", "wall"], ["installed", "installed"], np.array([0.5, 1.0]))
    np.testing.assert_allclose(out, [calibrate.FLOOR, calibrate.CEILING])


def test_a_calibration_table_named_but_missing_is_an_error_not_raw_confidences(monkeypatch, tmp_path):
    monkeypatch.setenv("SITETWIN_CALIBRATION", str(tmp_path / "gone.json"))
    with pytest.raises(FileNotFoundError, match="gone.json"):
        calibrate.calibrate(["wall"], ["absent"], np.array([0.7]))
