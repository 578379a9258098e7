import datetime as dt

import numpy as np

from tests.conftest import shared_model
from twin.asbuilt import PlannedTask, as_built, stage_timeline, stages_at, tasks_from_ifc
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


def _programme(storeys=3, walls=40):
    """Per storey: a structure task (slabs), a partitions task (walls), a fixtures task (lamps)."""
    ids, classes, levels, tasks = [], [], [], []
    day = D(2027, 1, 4)
    for s in range(storeys):
        for trade, cls, count in (("structure", "slab", 2), ("partitions", "wall", walls),
                                  ("finishes and fixtures", "light_fixture", walls // 2)):
            members = tuple(f"{cls}-{s}-{k}" for k in range(count))
            ids += members
            classes += [cls] * count
            levels += [f"L{s}"] * count
            finish = day + dt.timedelta(days=4)
            tasks.append(PlannedTask(f"L{s}-{trade}", day, finish, members, trade, f"L{s}"))
            day += dt.timedelta(days=7)
    return ids, classes, levels, tasks


def test_the_as_built_history_is_seeded_and_slips_both_ways():
    ids, classes, levels, tasks = _programme()
    a = as_built(ids, classes, levels, tasks, seed=4, late_share=0.3, early_share=0.3)
    b = as_built(ids, classes, levels, tasks, seed=4, late_share=0.3, early_share=0.3)
    np.testing.assert_array_equal(a.reach, b.reach)
    np.testing.assert_array_equal(a.removals.removed, b.removals.removed)
    assert a.slips == b.slips
    assert any(v >= 5 for v in a.slips.values()) and any(v <= -2 for v in a.slips.values())
    c = as_built(ids, classes, levels, tasks, seed=5, late_share=0.3, early_share=0.3)
    assert not np.array_equal(a.reach, c.reach)
    # A late task's elements are installed after its planned finish, an early one's before its start.
    row_of = {g: i for i, g in enumerate(ids)}
    for task in tasks:
        rows = [row_of[g] for g in task.elements]
        moved = set(a.out_of_order.tolist()) & set(rows)
        kept = [r for r in rows if r not in moved]
        start, finish = (task.start - a.epoch).days, (task.finish - a.epoch).days + 1
        if a.slips[task.key] >= 5 and kept:
            assert a.reach[kept, 0].min() > start + 4
        if a.slips[task.key] <= -2 and kept:
            assert a.reach[kept, 0].max() < finish


def test_some_elements_are_built_out_of_order_but_never_the_structure():
    ids, classes, levels, tasks = _programme(walls=100)
    history = as_built(ids, classes, levels, tasks, seed=1, out_of_order_share=0.05, late_share=0,
                       early_share=0, slip_sigma_days=0)
    assert len(history.out_of_order) >= 5
    row_of = {g: i for i, g in enumerate(ids)}
    window = {row_of[g]: ((t.start - history.epoch).days, (t.finish - history.epoch).days + 1)
              for t in tasks for g in t.elements}
    for row in history.out_of_order:
        start, finish = window[row]
        assert classes[row] != "slab"
        day = history.reach[row, 0]
        assert day < start - 7 or day > finish + 7 or day == 0
    inside = [r for r in range(len(ids)) if r not in set(history.out_of_order.tolist())]
    assert all(window[r][0] <= history.reach[r, 0] <= window[r][1] for r in inside)


def test_a_removed_element_drops_to_stage_0_in_its_window_and_may_come_back():
    ids, classes, levels, tasks = _programme(walls=100)
    history = as_built(ids, classes, levels, tasks, seed=2, rework_share=0.05, reinstall_share=0.5)
    removals = history.removals
    assert len(removals.rows) >= 5
    assert np.isinf(removals.reinstalled).any() and np.isfinite(removals.reinstalled).any()
    for row, out, back in zip(removals.rows, removals.removed, removals.reinstalled, strict=True):
        assert classes[row] in ("wall", "light_fixture") and out > history.reach[row, 0]
        before = history.date_of(out) - dt.timedelta(days=1)
        assert history.stages_at(before)[row] >= 1
        assert history.stages_at(history.date_of(out) + dt.timedelta(days=1))[row] == 0
        if np.isfinite(back):
            assert history.stages_at(history.date_of(back) + dt.timedelta(days=1))[row] >= 1
        else:
            assert history.stages_at(D(2030, 1, 1))[row] == 0
    # Everyone else's stages never drop.
    others = np.setdiff1d(np.arange(len(ids)), removals.rows)
    days = [D(2027, 1, 1) + dt.timedelta(days=k) for k in range(0, 120, 3)]
    stages = np.array([history.stages_at(day)[others] for day in days])
    assert (np.diff(stages, axis=0) >= 0).all()
