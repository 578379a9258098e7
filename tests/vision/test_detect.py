"""The bundled detector: loading checks its classes, and it finds what the id image says is there."""

import numpy as np
import pytest

from twin import taxonomy
from vision.detect import BUNDLED_WEIGHTS, DetectorError, detect_frame, load_detector
from vision.pose import Pose
from vision.render import Appearance, render_equirect
from vision.tiles import region_iou

pytestmark = pytest.mark.slow


def test_weights_whose_classes_differ_are_refused_when_loading(tmp_path):
    from ultralytics import YOLO

    from vision.train import model_yaml

    untrained = YOLO(str(model_yaml("n", tmp_path)))  # classes named 0..17, not SiteTwin's labels
    path = tmp_path / "other.pt"
    untrained.save(str(path))
    with pytest.raises(DetectorError, match="do not match"):
        load_detector(path)


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="no detector weights"):
        load_detector(tmp_path / "none.pt")


def test_the_model_card_sets_the_operating_thresholds_and_weights_without_one_get_the_defaults(tmp_path):
    import json
    import shutil

    bare = tmp_path / "bare.pt"
    shutil.copyfile(BUNDLED_WEIGHTS, bare)
    assert load_detector(bare).confidence == 0.25 and load_detector(bare).reliability == {}
    assert load_detector(bare).iou == 0.7  # ultralytics' own default
    carded = tmp_path / "carded.pt"
    shutil.copyfile(BUNDLED_WEIGHTS, carded)
    carded.with_suffix(".json").write_text(json.dumps(
        {"confidence": 0.4, "iou": 0.6, "map50": {"wall_framed": 0.5}}))
    loaded = load_detector(carded)
    assert loaded.confidence == 0.4 and loaded.iou == 0.6 and loaded.reliability == {"wall": 0.5}


@pytest.fixture(scope="module")
def detector():
    if not BUNDLED_WEIGHTS.exists():
        pytest.fail(f"{BUNDLED_WEIGHTS} is missing: the package ships its detector")
    return load_detector()


def test_a_fresh_render_is_detected_where_the_id_image_says(sample, detector):
    _, twin, scene, _ = sample
    state = scene.full_state()
    found = expected = 0
    for k, pose in enumerate([Pose(9.0, 3.0, 1.7, yaw=0.4), Pose(3.0, 5.0, 1.7, yaw=2.0)]):
        render = render_equirect(scene, pose, 1024, state, Appearance.randomised(100 + k))
        detections = detect_frame(render.rgb, detector)
        for row in np.unique(render.element[render.element >= 0]):
            cls = twin.elements[row].tracked_class
            mask = render.element == row
            if cls not in ("window", "door", "column") or mask.sum() < 1500:
                continue
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
            expected += 1
            label = taxonomy.LABEL_OF[(cls, 1)]
            found += any(d.label == label and region_iou(np.array(d.region), box, 1024) > 0.3 for d in detections)
    assert expected >= 5
    # Run 6 (CPU-trained) and run 7 (the bundled weights, docs/detector.md) both find all six large
    # doors, windows and columns these renders show; the floor allows one miss.
    assert found / expected >= 0.8


def test_loading_on_a_machine_without_ultralytics_settings_writes_nothing_on_stdout(tmp_path):
    """The first import of ultralytics on a machine announces its new settings file; a CLI's
    stdout holds one JSON object, so that notice must go to stderr."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from vision.detect import load_detector; load_detector()"],
                          capture_output=True, text=True, env=env, check=True)
    assert any(tmp_path.iterdir()), "ultralytics did not write its settings in the fresh directory"
    assert done.stdout == ""


def test_a_detector_process_detects_what_the_detector_does_and_reports_its_own_end(sample, detector):
    import os
    import signal

    from vision.detector_process import DetectorProcess

    _, _, scene, _ = sample
    pose = Pose(9.0, 3.0, 1.7, yaw=0.4)
    image = render_equirect(scene, pose, 1024, scene.full_state(), Appearance.randomised(3)).rgb
    with DetectorProcess() as served:
        assert (served.path, served.tile_size, served.confidence, served.reliability) == (
            detector.path, detector.tile_size, detector.confidence, detector.reliability)
        here = detect_frame(image, detector)
        there = served.detect(image)
        assert [d.label for d in there] == [d.label for d in here] and len(here) > 0
        np.testing.assert_allclose([d.region for d in there], [d.region for d in here], atol=1e-3)
        os.kill(served._process.pid, signal.SIGKILL)  # the child dies (out of memory, say)
        with pytest.raises(DetectorError, match="detector process ended"):
            served.detect(image)


def test_a_detector_process_refuses_bad_weights_when_it_starts(tmp_path):
    from vision.detector_process import DetectorProcess

    with pytest.raises(DetectorError, match="no detector weights"):
        DetectorProcess(tmp_path / "none.pt")


def test_the_shared_detector_is_kept_and_started_again_when_its_process_ends(monkeypatch):
    import os
    import signal

    from vision import detector_process

    monkeypatch.setattr(detector_process, "_shared", None)
    first = detector_process.shared_detector()
    assert detector_process.shared_detector() is first  # one per process, not one per capture
    os.kill(first._process.pid, signal.SIGKILL)
    first._process.join(10)
    second = detector_process.shared_detector()
    assert second is not first and second.alive
    second.close()
