import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import taxonomy
from twin.progress import (
    MIN_FORECAST_DONE,
    NO_FORECAST_NO_RATE,
    NO_FORECAST_TOO_LITTLE,
    PlannedWork,
    earned_schedule_slip,
    expand_assemblies,
    forecast,
    forecast_finish,
    percent_complete,
    planned_percent,
    rollup,
    schedule_progress,
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


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.integers(1, 40), st.integers(-10, 80))
def test_slip_is_zero_when_actual_equals_a_working_day_plan(offset, length, today_offset):
    start = D(2027, 1, 1) + dt.timedelta(days=offset)
    finish = start + dt.timedelta(days=length - 1)
    today = D(2027, 1, 1) + dt.timedelta(days=today_offset)
    plan = planned_percent(start, finish, today, working_days=True)
    assert earned_schedule_slip([PlannedWork(start, finish)], plan, today, working_days=True) == 0.0


def test_the_working_day_plan_stands_still_over_the_weekend():
    start, finish = D(2027, 3, 1), D(2027, 3, 12)  # Monday to Friday a week later: 10 working days
    assert planned_percent(start, finish, D(2027, 3, 5), working_days=True) == 0.5
    assert planned_percent(start, finish, D(2027, 3, 7), working_days=True) == 0.5  # Sunday
    assert planned_percent(start, finish, D(2027, 3, 8), working_days=True) == 0.6
    assert planned_percent(start, finish, D(2027, 3, 8), working_days=True, holidays=[D(2027, 3, 8)]) == pytest.approx(
        5 / 9)
    assert planned_percent(start, finish, D(2027, 3, 5)) == 5 / 12  # calendar days


def test_slip_counts_from_where_the_plan_left_the_actual_share_not_from_a_gap_before_it():
    # T1 in week 1, T2 in week 3; T1 done, T2 not started on its second day: 2 days behind, not 11.
    work = [PlannedWork(D(2027, 3, 1), D(2027, 3, 5)), PlannedWork(D(2027, 3, 15), D(2027, 3, 19))]
    assert earned_schedule_slip(work, 0.5, D(2027, 3, 16)) == 2.0
    assert earned_schedule_slip(work, 0.5, D(2027, 3, 10)) == 0.0  # in the gap: on plan
    assert earned_schedule_slip(work, 0.6, D(2027, 3, 10)) == -5.0  # T2's first day (15 March) done by 10 March


def test_a_rollup_by_quantity_weights_the_plan_and_the_actual_alike():
    tasks = [(PlannedWork(D(2027, 3, 1), D(2027, 3, 10)), ["A"]), (PlannedWork(D(2027, 3, 11), D(2027, 3, 20)), ["B"])]
    stages = {"A": ("slab", 1), "B": ("slab", 0)}
    by_count = rollup(tasks, stages, D(2027, 3, 10))
    assert by_count == (0.5, 0.5, 0.0)
    by_area = rollup(tasks, stages, D(2027, 3, 10), quantities={"A": 30.0, "B": 10.0})
    assert (by_area.planned, by_area.actual, by_area.slip_days) == (0.75, 0.75, 0.0)


def test_schedule_progress_reports_summary_tasks_over_their_childrens_elements():
    from twin.schedule.model import Schedule, Task

    schedule = Schedule("s", "csv", [
        Task("P", "Level", D(2027, 3, 1), D(2027, 3, 10)),
        Task("A", "Columns", D(2027, 3, 1), D(2027, 3, 5), parent="P", elements=("C1", "C2")),
        Task("B", "Beams", D(2027, 3, 6), D(2027, 3, 10), parent="P", elements=("B1", "B2")),
    ])
    stages = {"C1": ("column", 1), "C2": ("column", 1), "B1": ("beam", 1), "B2": ("beam", 0)}
    snapshots = [(D(2027, 3, 4), {"C1": ("column", 1)})]
    got = {p.task: p for p in schedule_progress(schedule, stages, D(2027, 3, 8), snapshots)}
    assert (got["P"].actual, got["P"].elements, got["A"].status) == (0.75, 4, "complete")
    assert got["B"].actual_pct == 50.0 and got["B"].planned_pct == 60.0
    # 25 % on 4 March, 75 % on 8 March: 12.5 % a day, so the last 25 % takes 2 days.
    assert got["P"].forecast_finish == D(2027, 3, 10)


def test_no_forecast_from_too_little_production_and_it_says_so():
    # the demo's case: 2.6 % done one walk after 0.5 % would extrapolate to a finish years out
    little = forecast([(D(2026, 10, 1), 0.005), (D(2026, 10, 15), 0.026)])
    assert little.finish is None and little.reason == NO_FORECAST_TOO_LITTLE
    # plenty done, but only 2 % produced in the window: a rate of a few elements
    slow = forecast([(D(2026, 10, 1), 0.40), (D(2026, 10, 15), 0.42)])
    assert slow.finish is None and slow.reason == NO_FORECAST_TOO_LITTLE
    stalled = forecast([(D(2026, 10, 1), 0.40), (D(2026, 10, 15), 0.40)])
    assert stalled.finish is None and stalled.reason == NO_FORECAST_NO_RATE
    assert forecast([(D(2026, 10, 15), 0.5)]).finish is None  # one observation: no rate


def test_a_forecast_with_enough_production_extrapolates_the_recent_rate():
    # 10 % → 30 % over 14 days: 70 % left at 1/70 a day is 49 days after 15 October
    got = forecast([(D(2026, 10, 1), 0.10), (D(2026, 10, 15), 0.30)])
    assert got.reason is None and got.finish == D(2026, 12, 3)
    at_the_threshold = forecast([(D(2026, 10, 1), MIN_FORECAST_DONE - 0.05), (D(2026, 10, 8), MIN_FORECAST_DONE)])
    assert at_the_threshold.finish is not None


def test_an_assembly_counts_through_its_parts_once():
    parts = {"stair": ("flight", "railing")}
    # named with its parts, or alone: the parts count, each once, and the stair itself never
    assert expand_assemblies(["slab", "stair", "flight", "railing"], parts) == ("slab", "flight", "railing")
    assert expand_assemblies(["stair", "slab"], parts) == ("flight", "railing", "slab")
    assert expand_assemblies(["roof"], parts) == ("roof",)  # no tracked parts: stays as it is
    stages = {"slab": ("slab", 1), "flight": ("stair", 1), "railing": ("railing", 1), "stair": ("stair", 0)}
    assert percent_complete(expand_assemblies(["slab", "stair", "flight", "railing"], parts), stages) == 1.0


def test_what_no_capture_has_seen_is_estimated_from_its_task_or_the_plan_at_the_seen_pace():
    from twin.progress import element_weight, estimate_unseen

    wall = "wall"
    # A: 4 elements over 1–10 March, 2 seen, one of them installed; B: 2 elements over 1–10 March,
    # none seen. On 5 March (planned 50 %) A's seen half is 50 % done: on plan, so B is at its plan.
    a = (PlannedWork(D(2027, 3, 1), D(2027, 3, 10)), ("a1", "a2", "a3", "a4"))
    b = (PlannedWork(D(2027, 3, 1), D(2027, 3, 10)), ("b1", "b2"))
    stages = {"a1": (wall, 3), "a2": (wall, 0)}
    got = estimate_unseen([a, b], stages, {"a1", "a2"}, D(2027, 3, 5))
    assert got == {"a3": 0.5, "a4": 0.5, "b1": 0.5, "b2": 0.5}
    assert percent_complete(a[1] + b[1], stages, estimate=got) == 0.5
    # A seen behind its plan: B, unseen, is assumed as far behind.
    stages["a1"] = (wall, 1)  # framed only: A's seen half is w/2 done against 1/2 planned
    w = element_weight(wall, 1)
    got = estimate_unseen([a, b], stages, {"a1", "a2"}, D(2027, 3, 5))
    assert got["a3"] == pytest.approx(w / 2) and got["b1"] == pytest.approx(0.5 * (w / 2) / 0.5)
    # Nothing seen anywhere: the plan. Everything seen: nothing to estimate.
    assert estimate_unseen([a, b], {}, set(), D(2027, 3, 5)) == dict.fromkeys(a[1] + b[1], 0.5)
    assert estimate_unseen([a, b], stages, set(a[1] + b[1]), D(2027, 3, 5)) == {}
