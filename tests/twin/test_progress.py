import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from twin import taxonomy
from twin.progress import (
    PlannedWork,
    earned_schedule_slip,
    forecast_finish,
    percent_complete,
    planned_percent,
    task_progress,
)

D = dt.date
CLASSES = [c.name for c in taxonomy.CLASSES] + [None]
elements = st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(0, 3)), min_size=1, max_size=30)


def as_stages(items):
    return {f"E{i}": (cls, min(stage, taxonomy.BY_NAME[cls].final_stage) if cls else min(stage, 1))
            for i, (cls, stage) in enumerate(items)}


@settings(max_examples=300, deadline=None)
@given(elements, st.data())
def test_percent_complete_stays_in_range_and_never_drops_when_an_element_advances(items, data):
    stages = as_stages(items)
    before = percent_complete(stages, stages)
    assert 0.0 <= before <= 1.0
    gid = data.draw(st.sampled_from(sorted(stages)))
    cls, stage = stages[gid]
    final = taxonomy.BY_NAME[cls].final_stage if cls else 1
    advanced = dict(stages)
    advanced[gid] = (cls, min(stage + 1, final))
    assert percent_complete(stages, advanced) >= before


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.integers(1, 40), st.integers(-10, 80))
def test_slip_is_zero_when_actual_equals_plan(offset, length, today_offset):
    start = D(2027, 1, 1) + dt.timedelta(days=offset)
    finish = start + dt.timedelta(days=length - 1)
    today = D(2027, 1, 1) + dt.timedelta(days=today_offset)
    work = [PlannedWork(start, finish)]
    assert earned_schedule_slip(work, planned_percent(start, finish, today), today) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.floats(0, 1)), min_size=1, max_size=20))
def test_a_forecast_never_precedes_the_last_observation(points):
    history = [(D(2027, 1, 1) + dt.timedelta(days=d), p) for d, p in points]
    forecast = forecast_finish(history)
    last = max(d for d, _ in history)
    if forecast is not None and max(history)[1] < 1.0:
        assert forecast >= last


def test_a_task_half_done_at_three_quarters_of_its_window_is_behind():
    stages = {f"W{i}": ("column", 1 if i < 5 else 0) for i in range(10)}
    result = task_progress("T", D(2027, 1, 1), D(2027, 1, 8), sorted(stages), stages, today=D(2027, 1, 6),
                           history=[(D(2027, 1, 2), 0.2)])
    assert result.planned == 0.75 and result.actual == 0.5
    assert result.slip_days == 2.0  # the plan reached 50 % at the end of 4 January
    assert result.status == "behind"
    assert result.forecast_finish == D(2027, 1, 13)  # 30 % in 4 days: the other 50 % takes 6.7 days


def test_quantities_come_from_quantity_sets_else_from_boxes():
    from twin.quantities import task_quantities

    with_sets = {"A": ({"BaseQuantities.NetVolume": 2.0, "BaseQuantities.GrossVolume": 3.0}, [0, 0, 0, 1, 1, 1]),
                 "B": ({"Qto_WallBaseQuantities.NetVolume": 6.0}, [0, 0, 0, 1, 1, 1])}
    assert task_quantities(with_sets, "volume") == {"A": 2.0, "B": 6.0}
    mixed = {"A": ({"BaseQuantities.NetVolume": 2.0}, [0, 0, 0, 4, 0.2, 3]), "B": ({}, [0, 0, 0, 2, 0.2, 3])}
    # One element lacks the quantity: both use their boxes, so the weights share a unit.
    assert task_quantities(mixed, "area") == {"A": 12.0, "B": 6.0}
    assert task_quantities(mixed, "length") == {"A": 4.0, "B": 3.0}


def test_a_quantity_weighted_task_counts_big_elements_more():
    stages = {"BIG": ("wall", 3), "SMALL": ("wall", 0)}
    by_count = task_progress("T", D(2027, 1, 1), D(2027, 1, 10), ["BIG", "SMALL"], stages, D(2027, 1, 5))
    by_area = task_progress("T", D(2027, 1, 1), D(2027, 1, 10), ["BIG", "SMALL"], stages, D(2027, 1, 5),
                            quantities={"BIG": 30.0, "SMALL": 10.0})
    assert by_count.actual == 0.5 and by_area.actual == 0.75
