"""Choose the pose search's settings on tuning layouts: the prior's weight and tilt σ, the
first-level truncation, the edge-map shift, the support width and the final polish.

Every frame of ``sitetwin evaluate`` walks over the tuning layouts is recorded once (the image, its
prior, what was believed built, the detections, the true pose); then each setting re-registers
the same frames, so settings differ in nothing else. Reports the refined pose's error (median and
p90, cm and degrees) and the CPU seconds of registration. The layouts are neither trained on
(``vision.dataset.TRAIN_LAYOUTS``) nor reported in docs/accuracy.md.

    .venv/bin/python bench/pose.py [--walks 4] [--frames 8] [--prior-weight 0.02 0.05 0.1]
                                   [--coarse-truncation 24 12] [--edge-shift 0.25] [--tilt-sigma 0 1]
                                   [--polish-evals 0 300]
                                   [--write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_doc import write_section  # noqa: E402
from threshold import TUNING_LAYOUTS  # noqa: E402

from twin.generate import generate_building  # noqa: E402
from vision import observe, pose_search, register  # noqa: E402
from vision.detect import load_detector  # noqa: E402
from vision.pose import Pose  # noqa: E402


def record_frames(path: Path, detector, walks: int, frames: int, work_dir: Path) -> list[dict]:
    """Run ``evaluate`` on ``path`` and keep every registered frame's inputs, true pose and the true
    stage of every element (GlobalId → stage) on the frame's date."""
    import webapp.services.processing as processing
    from webapp.services.evaluation import evaluate_model

    records = []
    register_frame = processing.register_frame

    def recording(twin, scene, image, prior, believed, detections, refine=True, reliability=None):
        records.append(dict(twin=twin, scene=scene, image=image, prior=prior, believed=believed.copy(),
                            detections=detections, reliability=reliability))
        return register_frame(twin, scene, image, prior, believed, detections, refine, reliability)

    processing.register_frame = recording
    try:
        evaluate_model(path, detector, walks=walks, frames=frames, seed=7, width=1024, work_dir=work_dir)
    finally:
        processing.register_frame = register_frame
    truths = [(Pose.from_dict(frame["pose"]), walk["stages"])
              for walk in (json.loads((w / "ground_truth.json").read_text())
                           for w in sorted(work_dir.glob("walk-*")))
              for frame in walk["frames"]]
    for record, (truth, stages) in zip(records, truths, strict=True):
        record["truth"], record["stages"] = truth, stages
    return records


def pose_errors(records: list[dict]) -> tuple[np.ndarray, float]:
    """((F, 2) position error in cm and yaw error in degrees per frame, CPU seconds), registering
    every recorded frame under the current settings of :mod:`vision.pose_search` and :mod:`vision.observe`."""
    from webapp.services.evaluation import pose_error

    started = time.process_time()
    errors = []
    for r in records:
        result = register.register_frame(r["twin"], r["scene"], r["image"], r["prior"], r["believed"],
                                         r["detections"], True, r["reliability"])
        errors.append(pose_error(result.pose, r["truth"]))
    return np.array(errors), time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--prior-weight", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    parser.add_argument("--coarse-truncation", type=float, nargs="+", default=[24.0, 12.0])
    parser.add_argument("--edge-shift", type=float, nargs="+", default=[pose_search.EDGE_SHIFT])
    parser.add_argument("--support-width", type=int, nargs="+", default=[observe.SUPPORT_WIDTH])
    parser.add_argument("--tilt-sigma", type=float, nargs="+",
                        default=[math.degrees(pose_search.PRIOR_SIGMA_TILT)],
                        help="the prior's pitch/roll σ in degrees (0: no tilt term)")
    parser.add_argument("--polish-evals", type=int, nargs="+", default=[pose_search.POLISH_EVALS],
                        help="score evaluations of the final continuous refinement (0: none)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    detector = load_detector()
    recorded = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in TUNING_LAYOUTS:
            path = Path(tmp) / f"pose-{spec['seed']}.ifc"
            generate_building(path, **spec)
            work_dir = Path(tmp) / f"work-{spec['seed']}"
            recorded[label] = record_frames(path, detector, args.walks, args.frames, work_dir)
            print(f"recorded {label}: {len(recorded[label])} frames", file=sys.stderr)
        defaults = (pose_search.PRIOR_WEIGHT, pose_search.COARSE_TRUNCATION, pose_search.EDGE_SHIFT,
                    observe.SUPPORT_WIDTH, pose_search.PRIOR_SIGMA_TILT, pose_search.POLISH_EVALS)
        rows = []
        try:
            for weight, truncation, shift, support, tilt, polish in itertools.product(
                    args.prior_weight, args.coarse_truncation, args.edge_shift, args.support_width,
                    args.tilt_sigma, args.polish_evals):
                pose_search.PRIOR_WEIGHT, pose_search.COARSE_TRUNCATION = weight, truncation
                pose_search.EDGE_SHIFT, observe.SUPPORT_WIDTH = shift, support
                pose_search.PRIOR_SIGMA_TILT = math.radians(tilt) if tilt else math.inf
                pose_search.POLISH_EVALS = polish
                per_layout, cpu = {}, 0.0
                for label, records in recorded.items():
                    per_layout[label], seconds = pose_errors(records)
                    cpu += seconds
                every = np.concatenate(list(per_layout.values()))
                rows.append(dict(prior_weight=weight, coarse_truncation=truncation, edge_shift=shift,
                                 support_width=support, tilt_sigma_deg=tilt, polish_evals=polish,
                                 median_cm=float(np.median(every[:, 0])),
                                 p90_cm=float(np.percentile(every[:, 0], 90)),
                                 median_deg=float(np.median(every[:, 1])), cpu_s_per_frame=cpu / len(every),
                                 layouts={k: [float(np.median(v[:, 0])), float(np.percentile(v[:, 0], 90))]
                                          for k, v in per_layout.items()}))
                print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            (pose_search.PRIOR_WEIGHT, pose_search.COARSE_TRUNCATION, pose_search.EDGE_SHIFT,
             observe.SUPPORT_WIDTH, pose_search.PRIOR_SIGMA_TILT, pose_search.POLISH_EVALS) = defaults
    frames = sum(len(r) for r in recorded.values())
    lines = [f"`bench/pose.py --walks {args.walks} --frames {args.frames}`: {frames} frames of "
             f"{len(recorded)} tuning layouts ({', '.join(recorded)}), each re-registered under every "
             "setting. "
             f"In use: prior weight {defaults[0]}, first-level truncation {defaults[1]:g} px, "
             f"edge-map shift {defaults[2]:g} px, support width {defaults[3]} px, "
             f"tilt σ {math.degrees(defaults[4]):g}°, {defaults[5]} polish evaluations.", "",
             "| prior weight | first-level truncation (px) | edge shift (px) | support width (px) | "
             "tilt σ (°) | polish evaluations | median cm | p90 cm | median ° | CPU s/frame | "
             + " | ".join(f"{k} median / p90 cm" for k in recorded) + " |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(recorded)]
    for row in rows:
        lines.append(f"| {row['prior_weight']:g} | {row['coarse_truncation']:g} | {row['edge_shift']:g} | "
                     f"{row['support_width']} | {row['tilt_sigma_deg']:g} | {row['polish_evals']} | "
                     f"{row['median_cm']:.1f} | "
                     f"{row['p90_cm']:.1f} | {row['median_deg']:.2f} | {row['cpu_s_per_frame']:.2f} | "
                     + " | ".join(f"{m:.1f} / {p:.1f}" for m, p in row["layouts"].values()) + " |")
    print("\n".join(lines))
    if args.write:
        write_section("Pose search settings (`bench/pose.py`)", lines)


if __name__ == "__main__":
    main()
