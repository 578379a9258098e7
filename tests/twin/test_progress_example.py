"""docs/progress.md's worked example, computed by the code: every number the page derives by hand."""

import datetime as dt

from twin.progress import PlannedWork, rollup, task_progress

D = dt.date
TODAY = D(2027, 3, 12)
TASKS = {
    "T1": (D(2027, 3, 1), D(2027, 3, 5), [f"C{i}" for i in range(4)]),
    "T2": (D(2027, 3, 8), D(2027, 3, 17), [f"W{i}" for i in range(4)]),
    "T3": (D(2027, 3, 15), D(2027, 3, 19), ["K0", "K1"]),
}
STAGES = {**{f"C{i}": ("column", 1) for i in range(4)},
          "W0": ("wall", 2), "W1": ("wall", 2), "W2": ("wall", 1), "W3": ("wall", 0),
          "K0": ("ceiling", 0), "K1": ("ceiling", 0)}


def test_the_worked_example_matches_the_page():
    t1 = task_progress("T1", *TASKS["T1"], STAGES, TODAY)
    t2 = task_progress("T2", *TASKS["T2"], STAGES, TODAY, history=[(D(2027, 3, 5), 0.10)])
    t3 = task_progress("T3", *TASKS["T3"], STAGES, TODAY)
    assert (t1.actual, t1.planned, t1.slip_days, t1.status) == (1.0, 1.0, 0.0, "complete")
    assert (t2.actual, t2.planned, t2.slip_days) == (0.475, 0.5, 0.25)
    assert t2.forecast_finish == D(2027, 3, 22) and t2.status == "on track"
    assert (t3.actual, t3.planned, t3.slip_days, t3.status) == (0.0, 0.0, 0.0, "not started")
    planned, actual, slip = rollup([(PlannedWork(s, f), e) for s, f, e in TASKS.values()], STAGES, TODAY)
    assert (round(planned, 6), round(actual, 6), slip) == (0.6, 0.59, 0.25)
