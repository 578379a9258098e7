"""Training: a dataset rendered on one machine trains on another (how the GPU run is made)."""

import json
import shutil

from click.testing import CliRunner

from vision.dataset import Layout
from vision.detect import BUNDLED_WEIGHTS, load_detector
from vision.train import fit_detector, render_training_data, settings_for


def test_a_dataset_rendered_in_one_place_trains_in_another(tmp_path):
    counts = render_training_data(tmp_path / "here", images=8, size=96, seed=3,
                                  train_layouts=(Layout(1, (1, 1), 5),), val_layouts=(Layout(1, (1, 1), 6),))
    assert sum(counts.values()) > 0
    shutil.move(tmp_path / "here", tmp_path / "there")  # nothing in it may name where it was made
    settings = settings_for("cpu", epochs=1, batch=4, size=96, workers=0)
    result = fit_detector(tmp_path / "w" / "det.pt", tmp_path / "there", settings, start_from=BUNDLED_WEIGHTS)
    record = json.loads((tmp_path / "w" / "det.json").read_text())
    assert record["label_counts"] == counts
    assert record["config"]["images"] == 8 and record["config"]["epochs_run"] == 1
    assert record["config"]["start_from"] == BUNDLED_WEIGHTS.name  # a name, not this machine's path
    assert load_detector(result.weights).path == result.weights  # the taxonomy's classes, in order


def test_render_to_and_data_together_are_refused(tmp_path):
    from webapp.cli.captures import train_detector_command

    result = CliRunner().invoke(train_detector_command, ["--render-to", str(tmp_path / "a"),
                                                         "--data", str(tmp_path)])
    assert result.exit_code != 0 and "two halves of one run" in result.output
    assert not (tmp_path / "a").exists()


def test_fitting_imports_without_the_renderer():
    """The GPU machine that fits has torch and ultralytics but neither open3d nor ifcopenshell."""
    import subprocess
    import sys

    code = ("import sys; sys.modules.update(open3d=None, ifcopenshell=None)\n"
            "from vision.train import fit_detector, settings_for\nimport vision.detect\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys; sys.modules.update(open3d=None)\nimport vision.dataset\n"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode != 0  # the check bites
