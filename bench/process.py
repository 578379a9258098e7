"""Total per-frame processing time against bare YOLO inference on the same tiles, in one run.

A simulated walk of a generated building is processed with ``sitetwin process`` machinery
(detect in a :class:`vision.detector_process.DetectorProcess`, register with pose refinement,
observe, fuse, store in SQLite); the floor is bare YOLO inference on the same frames' tiles, in
this process, with the same weights and threads. Target: ≤ 1.5×.

    .venv/bin/python bench/process.py [--frames 8] [--width 1024] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.generate import generate_building  # noqa: E402
from vision.detect import infer_tiles, load_detector  # noqa: E402
from vision.detector_process import DetectorProcess  # noqa: E402
from vision.tiles import cut_tiles  # noqa: E402

TARGET = 1.5
#: Other runs of this code on the day the doc was written (the machine's speed varies from run to run).
EARLIER = ("with run 6's weights, before run 7's (docs/detector.md; a model of the same size), 1.20×, "
           "1.38× and 1.30× (16 frames each). Two changes to registration came together: the pose polish "
           "(vision/register.py, `polish_pose`) costs about 70 ms a frame, and casting the points to float64 "
           "before `ufunc.at` in `vision.boxes.pixel_bounds` saved more than that (its float32 and integer "
           "points had taken numpy's slow path, about 5 ms a call and 30 calls a frame). Measured the same "
           "day: with the polish and without that cast 1.72× and 1.70× (register 0.455 and 0.465 s a frame), "
           "without either 1.49× (register 0.396 s). The machine ran slower than the last stop: bare "
           "inference 0.27-0.29 s against 0.23-0.26 s then and 0.16-0.19 s before. At the last stop: 1.33×, "
           "1.66×, 1.42×, 1.29×, 1.29×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    from webapp import create_app
    from webapp.db import upgrade_to_head
    from webapp.extensions import db
    from webapp.services.ingest import ingest_model
    from webapp.services.processing import process_capture
    from webapp.services.simulation import simulate_project_capture

    detector = load_detector()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'b.sqlite3'}", "SITETWIN_DATA_DIR": str(tmp)})
        with app.app_context():
            upgrade_to_head()
            generate_building(tmp / "b.ifc", storeys=2, bays=(3, 2), seed=9)
            ingest_model(db.session, tmp / "b.ifc", "bench", tmp)
            simulate_project_capture(db.session, tmp, "bench", dt.date(2027, 2, 20), tmp / "walk", frames=args.frames,
                                     width=args.width, seed=3)
            frames = [cv2.imread(str(p))[..., ::-1] for p in sorted((tmp / "walk" / "frames").glob("*.jpg"))]
            tiles = [cut_tiles(frame, detector.tile_size) for frame in frames]
            infer_tiles(tiles[0], detector)  # warm-up

            def bare_inference() -> float:
                start = time.perf_counter()
                for frame_tiles in tiles:
                    infer_tiles(frame_tiles, detector)
                return (time.perf_counter() - start) / len(frames)

            # The floor: the mean of a run before and one after, so that drift in the machine's speed
            # during the run does not favour either side.
            before = bare_inference()
            with DetectorProcess() as served:  # as `sitetwin process` runs it: detection in its own process
                result = process_capture(db.session, tmp, "bench", tmp / "walk", served)
            bare = (before + bare_inference()) / 2
            db.session.remove()
            db.engine.dispose()
    per_frame = result.seconds / result.frames
    out = {"frames": result.frames, "width": args.width, "bare_inference_s": round(bare, 3),
           "process_per_frame_s": round(per_frame, 3), "ratio": round(per_frame / bare, 2), "timing": result.timing}
    if args.write:
        from bench_doc import write_section

        write_section("Processing (`bench/process.py`)", [
            f"`process_capture` on a simulated walk ({result.frames} frames, {args.width} px, CPU): "
            f"**{per_frame:.2f} s per frame** against bare YOLO inference on the same tiles "
            f"({bare:.2f} s): **{out['ratio']}×** (target ≤ {TARGET}×). Per stage, seconds per frame: "
            + ", ".join(f"{k} {v}" for k, v in result.timing.items()) + ".",
            "",
            "Stages overlap: the next two frames are read and queued for detection while this one is registered, "
            "detection in its own process (vision/detector_process.py), so the per-stage times add up to more than "
            "the wall time per frame, and each stage is slower than alone (they share two cores: detection takes "
            "0.20-0.26 s a frame beside registration against 0.15-0.16 s alone). On a second thread of one "
            "interpreter, as before, the stages mostly took turns: Open3D's ray casts and ultralytics' Python "
            "between PyTorch's kernels both hold the GIL. The floor is unchanged: bare inference in this process, "
            f"with ultralytics' default of one PyTorch thread. Other runs of this code today: {EARLIER}; the "
            "machine's speed varies from run to run, and so does the ratio. Detection is now the slower stage, so "
            "what made it cheaper counted: boxes mapped to the sphere and merged in NumPy (bench/detect.py), and "
            "two frames queued ahead, so that the detector never waits on a frame slow to register. Storing "
            "observations in one executemany instead of an ORM object each took the store from 0.020 to 0.002 s a "
            "frame. History: 3.5× (each pose rendered twice a level), 2.27× (one render per pose, vectorised "
            "scoring, half-width coarse levels), 1.64× (projection-only fine levels, cv2.remap scoring, compact "
            "visibility passes, the pipeline), 1.8-2.0× (more casting for accuracy), 1.47-1.78× (median 1.64×: "
            "detection in its own process, visibility passes at facing triangles), 1.19-1.65× two stops ago "
            "(median 1.38×), 1.29-1.66× at the last stop (median 1.33×), now the above.",
            "", f"Reproduce: `.venv/bin/python bench/process.py --frames {args.frames} --write`"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
