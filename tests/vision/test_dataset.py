"""Detector data: labelled tiles rendered from any IFC model, generated or real."""

import numpy as np
import pytest

from tests.ifc_factory import make_room, write
from twin import taxonomy
from vision.dataset import render_models


def read_labels(root):
    labels = []
    for path in sorted((root / "labels").glob("*.txt")):
        for line in path.read_text().splitlines():
            label, *box = line.split()
            labels.append((int(label), np.array([float(b) for b in box])))
    return labels


def test_tiles_of_a_model_without_a_schedule_are_labelled_with_its_elements(tmp_path):
    path = write(make_room(), tmp_path / "room.ifc")  # no 4D schedule: a derived one gives the states
    counts = render_models(tmp_path / "set", [(tmp_path / "room.ifc", 3)], images=12, size=160, seed=1)
    assert len(list((tmp_path / "set" / "images").glob("*.jpg"))) == 12
    labels = read_labels(tmp_path / "set")
    assert labels, f"{path}: no element labelled in 12 tiles of a room"
    assert sum(counts.values()) == len(labels)
    tracked = {taxonomy.DETECTOR_LABELS[label].tracked for label, _ in labels}
    assert tracked <= {"wall", "slab", "ceiling", "stair"}  # what the room holds
    boxes = np.array([box for _, box in labels])
    assert np.all((boxes > 0) & (boxes <= 1))  # YOLO centre and size, normalised


def test_a_model_without_floor_to_stand_on_is_refused_by_name(tmp_path):
    import ifcopenshell.api

    model = make_room()
    for slab in model.by_type("IfcSlab"):
        ifcopenshell.api.run("root.remove_product", model, product=slab)
    write(model, tmp_path / "no-floor.ifc")
    with pytest.raises(ValueError, match="no-floor.ifc: no storey has free floor"):
        render_models(tmp_path / "set", [(tmp_path / "no-floor.ifc", 3)], images=4, size=160)
