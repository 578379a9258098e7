import datetime as dt

import pytest

from twin.asbuilt import stage_timeline, stages_at, tasks_from_ifc
from twin.generate import generate_building
from twin.ifc import open_model
from twin.model import build_twin
from vision.render import RenderScene


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """A generated two-storey building: (ifc path, twin, render scene, as-built state mid-programme)."""
    path = tmp_path_factory.mktemp("sample") / "sample.ifc"
    generate_building(path, storeys=2, bays=(3, 2), seed=11)
    model = open_model(path)
    twin = build_twin(model, threads=2)
    tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
    timeline, epoch = stage_timeline(twin.global_ids, [e.tracked_class if e.physical else None for e in twin.elements],
                                     [e.storey for e in twin.elements], tasks, seed=1)
    state = stages_at(timeline, epoch, dt.date(2027, 2, 20))
    return path, twin, RenderScene(twin), state
