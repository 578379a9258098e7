"""`sitetwin evaluate --timeline`: walk planning, scoring on hand-made cases, a small run end to end."""

import datetime as dt
import json

import numpy as np
import pytest

from tests.conftest import dispose, make_app
from twin.asbuilt import PlannedTask
from twin.generate import generate_building
from twin.timeline_score import Snapshot, flag_outcomes, installed_metrics, latencies, score_snapshots
from twin.walks import plan_week, storey_activity, walk_days

D = dt.date


def test_a_week_walks_the_busy_storeys_and_one_walked_longest_ago():
    storeys = ["L0", "L1", "L2", "L3", "L4"]
    tasks = [PlannedTask("a", D(2026, 1, 5), D(2026, 1, 9), ("x",) * 30, "partitions", "L2"),
             PlannedTask("b", D(2026, 1, 7), D(2026, 1, 20), ("y",) * 5, "structure", "L3"),
             PlannedTask("c", D(2026, 2, 2), D(2026, 2, 6), ("z",) * 50, "finishes", "L0")]
    activity = storey_activity(tasks, D(2026, 1, 5), D(2026, 1, 11))
    assert activity == {"L2": 30, "L3": 5}
    last = {"L0": 3, "L1": 1, "L2": 3, "L3": 2, "L4": 2}
    assert plan_week(storeys, activity, last, 2, 4) == ["L2", "L1"]
    assert plan_week(storeys, activity, last, 3, 4) == ["L2", "L3", "L1"]
    # Never walked comes before walked long ago; lower storeys first.
    assert plan_week(storeys, activity, {"L0": 3}, 2, 4) == ["L2", "L1"]
    # One walk a week: the busiest storey, but every third week the rotation.
    assert plan_week(storeys, activity, last, 1, 0) == ["L2"]
    assert plan_week(storeys, activity, last, 1, 2) == ["L1"]


def test_over_weeks_not_every_storey_every_week_but_none_forgotten():
    storeys = [f"L{k}" for k in range(6)]
    week = dt.timedelta(days=7)
    tasks = [PlannedTask(f"t{k}", D(2026, 1, 5) + k * week, D(2026, 1, 9) + k * week, ("e",) * 10, "frame",
                         storeys[k % 6]) for k in range(12)]
    last, walked = {}, []
    for week in range(12):
        start = D(2026, 1, 5) + dt.timedelta(days=7 * week)
        activity = storey_activity(tasks, start, start + dt.timedelta(days=6))
        plan = plan_week(storeys, activity, last, 2, week)
        assert len(plan) == 2 and len(set(plan)) == 2
        assert max(activity, key=activity.get) in plan  # where the work is
        for storey in plan:
            last[storey] = week
        walked.append(set(plan))
    assert all(len(w) < len(storeys) for w in walked)
    # Every storey was walked within any 6 consecutive weeks.
    for week in range(6, 12):
        assert set().union(*walked[week - 6:week]) == set(storeys)


def test_walks_are_spread_over_the_working_week():
    monday = D(2026, 11, 16)
    assert walk_days(monday, 2) == [D(2026, 11, 17), D(2026, 11, 19)]
    assert all(d.weekday() < 5 for d in walk_days(monday, 7))


def test_installed_metrics_on_a_hand_made_case():
    shown = np.array([0, 1, 2, 1, 0, 3, 0])
    truth = np.array([0, 1, 1, 0, 2, 3, 0])
    seen = np.array([True, True, True, True, True, True, False])
    m = installed_metrics(shown, truth, seen)
    # tp: rows 1, 2, 5; fp: row 3; fn: row 4; stage right: rows 0, 1, 5 of 6 seen.
    assert (m["tp"], m["fp"], m["fn"]) == (3, 1, 1)
    assert m["precision"] == 0.75 and m["recall"] == 0.75 and m["f1"] == 0.75
    assert m["stage_accuracy"] == 0.5 and m["element_captures"] == 6


def test_latency_counts_from_the_true_installation_to_the_first_capture_showing_it():
    install = np.array([1.0, 3.0, 10.0, np.inf, 2.0])
    days = np.array([2.0, 5.0, 9.0])
    shown = np.array([[1, 0, 0, 0, 1],
                      [1, 0, 0, 0, 1],
                      [1, 1, 1, 0, 0]])
    latency, never = latencies(install, days, shown)
    # Element 0: 1 day; element 1: 6 days; element 2: installed after the last capture (not counted);
    # element 4: shown at day 2, 0 days.
    assert sorted(latency.tolist()) == [0.0, 1.0, 6.0]
    assert never == 0
    shown[:, 1] = 0
    assert latencies(install, days, shown)[1] == 1


def _snap(week, day, shown, truth, flagged=None, seen=None):
    shown, truth = np.array(shown), np.array(truth)
    return Snapshot(D(2026, 1, 5) + dt.timedelta(days=day), week, shown,
                    np.zeros(len(shown), bool) if flagged is None else np.array(flagged),
                    truth, np.ones(len(shown), bool) if seen is None else np.array(seen))


def test_a_flag_is_right_when_the_element_regressed_or_was_shown_wrong():
    snaps = [_snap(0, 1, [1, 1, 0], [1, 1, 0]),
             _snap(0, 3, [1, 1, 1], [0, 1, 0]),              # element 0 removed; element 2 a false install
             _snap(1, 8, [1, 1, 1], [0, 1, 0], [True, True, True])]
    raised, right = flag_outcomes(snaps)
    # Element 0 truly regressed; element 2 was shown wrong before its flag; element 1 was right all along.
    assert (raised, right) == (3, 2)


def test_weeks_without_captures_still_count_false_installs_and_progress():
    snaps = [_snap(0, 1, [1, 0], [1, 0])]
    ends = [_snap(0, 6, [1, 0], [1, 0]), _snap(1, 13, [1, 0], [0, 1]), _snap(2, 20, [1, 1], [1, 1])]
    for end, (p, t) in zip(ends, [(50.0, 50.0), (50.0, 50.0), (100.0, 98.0)], strict=True):
        end.percent, end.true_percent = p, t
    report = score_snapshots(snaps, ends, np.array([1.0, 10.0]), D(2026, 1, 5))
    assert [w["captures"] for w in report["per_week"]] == [1, 0, 0]
    assert [w["false_installs_at_week_end"] for w in report["per_week"]] == [0, 1, 0]
    o = report["overall"]
    assert o["persisting_false_installs"] == 1 and o["element_weeks"] == 6
    assert o["percent_error_max"] == 2.0
    assert o["installed_not_shown"] == 0 and o["latency_elements"] == 1


@pytest.mark.slow
def test_a_short_timeline_runs_through_the_upload_path_and_reports_consistently(tmp_path):
    path = tmp_path / "t.ifc"
    generate_building(path, storeys=2, bays=(2, 1), seed=31)
    app = make_app(f"sqlite:///{tmp_path / 'cli.sqlite3'}", tmp_path / "data")
    try:
        result = app.test_cli_runner().invoke(args=[
            "evaluate", str(path), "--timeline", "--weeks", "2", "--walks-per-week", "1", "--frames", "3",
            "--width", "512", "--seed", "5", "--json"])
    finally:
        dispose(app)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["weeks"] == 2 and report["walks_per_week"] == 1 and report["schedule"] == "ifc"
    weeks, overall = report["per_week"], report["overall"]
    assert [w["week"] for w in weeks] == [0, 1]
    # Every planned walk was either processed or skipped (nothing built to stand on yet), and at
    # least one was processed, with all of its frames.
    assert report["captures"] == len(report["walks"]) == sum(w["captures"] for w in weeks) >= 1
    assert report["captures"] + len(report["skipped_walks"]) == 2
    assert report["frames"] == 3 * report["captures"]
    for key in ("tp", "fp", "fn", "element_captures"):
        assert overall[key] == sum(w[key] for w in weeks)
    assert overall["element_captures"] > 0 and overall["f1"] is not None
    assert overall["persisting_false_installs"] == sum(w["false_installs_at_week_end"] for w in weeks)
    assert overall["element_weeks"] == 2 * report["elements"]
    assert [w["coverage"] for w in weeks] == sorted(w["coverage"] for w in weeks)
    assert overall["coverage"] == weeks[-1]["coverage"] > 0
    for w in weeks:
        assert 0 <= w["percent"] <= 100 and 0 <= w["true_percent"] <= 100
        assert w["percent_error"] == round(w["percent"] - w["true_percent"], 1)
        assert (w["seen_percent"] is None) == (w["true_seen_percent"] is None)
    assert overall["percent_error_max"] == max(abs(w["percent_error"]) for w in weeks)
    assert overall["slip_error_max_days"] == max(abs(w["slip_error_days"]) for w in weeks)
    assert overall["flags_right"] <= overall["flags_raised"]
    truth = report["truth"]
    assert truth["tasks_late"] + truth["tasks_early"] > 0
    # The walks are in the past (a camera may not upload the future) and inside the two weeks.
    first, last = (dt.date.fromisoformat(report[k]) for k in ("first_walk", "last_walk"))
    assert first <= last < dt.date.today() and (last - first).days < 14


def test_the_programme_moves_by_whole_weeks_and_reads_back_as_a_csv_schedule(tmp_path):
    from twin.schedule.csvfile import read_csv
    from webapp.services.timeline import shift_tasks, write_schedule_csv

    tasks = [PlannedTask("L0-structure", D(2027, 1, 4), D(2027, 1, 8), ("A", "B"), "structure", "L0"),
             PlannedTask("L0-finishes", D(2027, 1, 11), D(2027, 1, 15), ("C",), None, "L0")]
    moved = shift_tasks(tasks, -7 * 10)
    assert [t.start.weekday() for t in moved] == [t.start.weekday() for t in tasks]
    assert moved[0].start == D(2026, 10, 26) and moved[1].elements == ("C",)
    schedule = read_csv(write_schedule_csv(moved, tmp_path / "s.csv"))
    read = {t.id: t for t in schedule.tasks}
    assert set(read) == {"L0-structure", "L0-finishes"}
    first = read["L0-structure"]
    assert (first.planned_start, first.planned_finish) == (D(2026, 10, 26), D(2026, 10, 30))
    assert tuple(first.elements) == ("A", "B") and first.trade == "structure"
    assert tuple(read["L0-finishes"].elements) == ("C",)
