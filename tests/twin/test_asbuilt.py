import datetime as dt

import numpy as np

from tests.conftest import shared_model
from twin.asbuilt import PlannedTask, stage_timeline, stages_at, tasks_from_ifc
from twin.ifc import open_model
from twin.model import build_twin

D = dt.date


def plan():
    tasks = [
        PlannedTask("frame", D(2027, 1, 4), D(2027, 1, 8), ("W1", "W2"), "partitions framing", "L0"),
        PlannedTask("board", D(2027, 1, 11), D(2027, 1, 15), (), "boarding", "L0"),
        PlannedTask("finish", D(2027, 1, 18), D(2027, 1, 22), ("LAMP",), "finishes and fixtures", "L0"),
    ]
    return ["W1", "W2", "LAMP", "LOOSE"], ["wall", "wall", "light_fixture", "column"], ["L0"] * 4, tasks


def test_walls_go_through_their_stages_with_the_storeys_later_trades():
    ids, classes, storeys, tasks = plan()
    timeline, epoch = stage_timeline(ids, classes, storeys, tasks, slip_sigma_days=0)
    assert list(stages_at(timeline, epoch, D(2027, 1, 3))) == [0, 0, 0, 0]
    assert list(stages_at(timeline, epoch, D(2027, 1, 9))[:2]) == [1, 1]
    assert list(stages_at(timeline, epoch, D(2027, 1, 16))[:2]) == [2, 2]
    assert list(stages_at(timeline, epoch, D(2027, 2, 1))) == [3, 3, 1, 0]  # LOOSE is in no task


def test_stages_never_drop_as_the_date_advances_and_slips_are_seeded():
    ids, classes, storeys, tasks = plan()
    a, epoch = stage_timeline(ids, classes, storeys, tasks, seed=3, slip_sigma_days=4)
    b, _ = stage_timeline(ids, classes, storeys, tasks, seed=3, slip_sigma_days=4)
    np.testing.assert_array_equal(a, b)
    days = [D(2027, 1, 1) + dt.timedelta(days=k) for k in range(60)]
    stages = np.array([stages_at(a, epoch, day) for day in days])
    assert (np.diff(stages, axis=0) >= 0).all()


def test_the_buildingsmart_example_links_its_tasks_by_product_assignment():
    model = open_model(shared_model("construction-scheduling-task.ifc"))
    twin = build_twin(model, threads=1)
    tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
    linked = {g for t in tasks for g in t.elements}
    assert linked == {e.global_id for e in twin.elements}
    assert all(D(2010, 9, 20) <= t.start <= t.finish <= D(2010, 9, 24) for t in tasks)
