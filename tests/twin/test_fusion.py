import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.fusion import ABSENT, INSTALLED, NOT_VISIBLE, Observation, fuse, fuse_element

T0 = dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)


def obs(kind, day, stage=0, confidence=0.9, frame=None, element="W1"):
    return Observation(element, frame or f"f{day}-{kind}-{stage}-{confidence}", T0 + dt.timedelta(days=day),
                       kind, stage, confidence)


def test_not_visible_is_not_evidence_of_absence():
    status = fuse_element("W1", [obs(NOT_VISIBLE, d) for d in range(10)], final_stage=3)
    assert status.stage == 0
    assert status.probability == 0.5
    assert status.observations == 0 and status.not_visible == 10


def test_an_unbuilt_wall_seen_absent_is_not_started_with_confidence():
    status = fuse_element("W1", [obs(ABSENT, d) for d in range(3)], final_stage=3)
    assert status.stage == 0 and status.probability > 0.95


def test_progress_over_weeks_reaches_the_latest_stage_in_order():
    seen = [obs(ABSENT, 0), obs(INSTALLED, 7, 1), obs(INSTALLED, 8, 1), obs(INSTALLED, 14, 2), obs(INSTALLED, 21, 3)]
    status = fuse_element("W1", seen, final_stage=3)
    assert status.stage == 3
    assert status.reached_at == [T0 + dt.timedelta(days=7), T0 + dt.timedelta(days=14), T0 + dt.timedelta(days=21)]
    assert status.first_seen == T0 and status.last_seen == T0 + dt.timedelta(days=21)
    assert status.evidence[0].stage == 3
    assert not status.needs_review


def test_one_weak_contrary_frame_neither_regresses_nor_flags():
    seen = [obs(INSTALLED, d, 1) for d in range(5)] + [obs(ABSENT, 6, confidence=0.6)]
    status = fuse_element("W1", seen, final_stage=1)
    assert status.stage == 1 and not status.needs_review


def test_strong_contrary_evidence_after_a_held_stage_is_flagged_for_review_with_both_sides():
    # Installed, seen so in frames over four weeks; then seen absent walk after walk: rework, or
    # the positives were wrong. The belief goes back, and a reviewer sees both sides.
    installed = [obs(INSTALLED, d, 1, frame=f"i{d}") for d in range(0, 28, 2)]
    absent = [obs(ABSENT, 35 + 7 * w + k, frame=f"a{w}{k}") for w in range(2) for k in range(2)]
    status = fuse_element("W1", installed + absent, final_stage=1)
    assert status.needs_review
    assert status.stage == 0
    frames = {o.frame for o in status.evidence}
    assert {"a11", "i26"} <= frames  # the newest of each side
    assert {o.kind for o in status.evidence} == {INSTALLED, ABSENT}


def test_a_held_stage_doubted_by_a_walk_of_confident_absences_is_flagged_but_kept():
    installed = [obs(INSTALLED, d, 1, frame=f"i{d}") for d in range(0, 28, 2)]
    doubt = [obs(ABSENT, 35, frame="a1"), obs(ABSENT, 35, frame="a2")]
    status = fuse_element("W1", installed + doubt, final_stage=1)
    assert status.stage == 1 and status.needs_review
    assert status.evidence[0].kind == INSTALLED and {"a1", "a2"} <= {o.frame for o in status.evidence}
    # Seen installed again on the next walk: the doubt is gone.
    again = fuse_element("W1", installed + doubt + [obs(INSTALLED, 42, 1, frame=f"j{k}") for k in range(3)],
                         final_stage=1)
    assert again.stage == 1 and not again.needs_review


def test_a_lone_early_positive_followed_by_confident_absences_ends_not_started():
    # The demo's door: one "installed" frame (0.75), then eleven confident "absent" ones.
    seen = [obs(ABSENT, 0, confidence=0.9), obs(INSTALLED, 7, 1, confidence=0.75)]
    seen += [obs(ABSENT, 14 + 7 * (k // 2) + k % 2, confidence=0.9) for k in range(11)]
    status = fuse_element("D1", seen, final_stage=1)
    assert status.stage == 0 and status.probability > 0.9 and not status.needs_review  # 0.75 was never held
    assert status.reached_at == []


@pytest.mark.parametrize("absences", [5, 6, 11])
def test_one_positive_then_five_or_more_absences_is_not_installed_or_is_flagged(absences):
    for first_day in (0, 7):
        seen = [obs(INSTALLED, first_day, 1, confidence=0.75)]
        seen += [obs(ABSENT, first_day + 7 + 3 * k, confidence=0.9) for k in range(absences)]
        status = fuse_element("D1", seen, final_stage=2)
        assert status.stage == 0 or status.needs_review


def test_a_lone_absence_among_many_positives_changes_nothing():
    days = range(0, 70, 7)
    steady = [obs(INSTALLED, d, 1) for d in days]
    noisy = steady + [obs(ABSENT, 31)]
    a, b = fuse_element("W1", steady, final_stage=1), fuse_element("W1", noisy, final_stage=1)
    assert (a.stage, a.reached_at, a.needs_review) == (1, [T0], False)
    assert (b.stage, b.reached_at, b.needs_review) == (1, [T0], False)


def test_not_visible_frames_move_nothing():
    seen = [obs(ABSENT, 0), obs(INSTALLED, 7, 1), obs(INSTALLED, 7, 1, confidence=0.8),
            obs(ABSENT, 14, confidence=0.6)]
    hidden = [obs(NOT_VISIBLE, d, confidence=c) for d in (1, 8, 30, 90) for c in (0.2, 1.0)]
    a, b = fuse_element("W1", seen, final_stage=3), fuse_element("W1", seen + hidden, final_stage=3)
    assert (a.stage, a.probability, a.reached_at, a.needs_review, a.last_seen) == \
        (b.stage, b.probability, b.reached_at, b.needs_review, b.last_seen)
    assert b.not_visible == 8


def test_a_steady_stream_of_positives_reaches_the_final_stage_in_order():
    # A wall framed in week 1, boarded in week 3, finished in week 5; two frames per weekly walk.
    seen = [obs(ABSENT, 0, frame="a0")]
    for week in range(1, 8):
        truth = 1 if week < 3 else 2 if week < 5 else 3
        seen += [obs(INSTALLED, 7 * week, truth, frame=f"w{week}-{k}", confidence=0.8) for k in range(2)]
    status = fuse_element("W1", seen, final_stage=3)
    assert status.stage == 3 and status.probability > 0.9 and not status.needs_review
    assert status.reached_at == [T0 + dt.timedelta(days=d) for d in (7, 21, 35)]
    # Stage by stage, it never skipped or fell back on the way.
    stages = [fuse_element("W1", seen[:1 + 2 * week], final_stage=3).stage for week in range(8)]
    assert stages == sorted(stages) and stages[-1] == 3


def test_a_reviewer_decision_wins():
    seen = [obs(INSTALLED, d, 1) for d in range(5)]
    status = fuse_element("W1", seen, final_stage=3, reviewed_stage=0)
    assert status.stage == 0 and status.reviewed


observation_lists = st.lists(
    st.builds(
        obs,
        kind=st.sampled_from([INSTALLED, ABSENT, NOT_VISIBLE]),
        day=st.integers(0, 60),
        stage=st.integers(1, 3),
        confidence=st.floats(0.05, 1.0),
        element=st.sampled_from(["A", "B", "C"]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(observation_lists, st.randoms(use_true_random=False))
def test_the_same_observations_in_any_order_give_the_same_result(observations, rnd):
    observations = [o if o.kind == INSTALLED else Observation(o.element, o.frame, o.at, o.kind, 0, o.confidence)
                    for o in observations]
    shuffled = list(observations)
    rnd.shuffle(shuffled)
    finals = {"A": 3, "B": 1, "C": 2}
    assert fuse(observations, finals) == fuse(shuffled, finals)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), min_size=1, max_size=20), st.integers(31, 60))
def test_a_later_frame_seeing_more_never_lowers_the_stage(history, later_day):
    def as_obs(day, stage):
        return obs(ABSENT, day) if stage == 0 else obs(INSTALLED, day, stage)

    before = fuse_element("W1", [as_obs(d, s) for d, s in history], final_stage=3)
    after = fuse_element("W1", [as_obs(d, s) for d, s in history] + [obs(INSTALLED, later_day, 3)], final_stage=3)
    assert after.stage >= before.stage


def test_unknown_elements_are_named():
    with pytest.raises(KeyError, match="GHOST"):
        fuse([obs(INSTALLED, 0, 1, element="GHOST")], {"W1": 1})


def test_weak_absent_claims_never_make_an_element_installed():
    # "absent" seen through a sliver of the element: confidence below even odds. Before the floor
    # on the log-odds these counted as evidence *for* installation and the last one flipped the status.
    start = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    observations = [Observation("E", f"f{k}", start + dt.timedelta(seconds=k), ABSENT, 0, c)
                    for k, c in enumerate((0.75, 0.75, 0.54, 0.37))]
    status = fuse_element("E", observations, final_stage=1)
    assert status.stage == 0 and status.probability > 0.5
    lone = fuse_element("E", [Observation("E", "f", start, ABSENT, 0, 0.2)], final_stage=1)
    assert (lone.stage, lone.probability) == (0, 0.5)  # the prior: no evidence either way


def _as_arrays(observations, finals):
    """The reference's inputs as fuse_arrays' (frame ids are decimal strings of ints)."""
    import numpy as np

    from twin.fusion import KIND_CODES

    names = sorted(finals)
    index = {name: k for k, name in enumerate(names)}
    arrays = (np.array([index[o.element] for o in observations], dtype=np.int64),
              np.array([int(o.frame) for o in observations], dtype=np.int64),
              np.array([o.at.replace(tzinfo=None) for o in observations], dtype="datetime64[us]"),
              np.array([KIND_CODES[o.kind] for o in observations], dtype=np.int64),
              np.array([o.stage for o in observations], dtype=np.int64),
              np.array([o.confidence for o in observations], dtype=float))
    return names, arrays, np.array([finals[name] for name in names])


def _utc(value):
    import numpy as np

    if np.isnat(value):
        return None
    return value.astype("datetime64[us]").astype(dt.datetime).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_fusion_equals_the_reference_on_random_observations(seed):
    import numpy as np

    from twin.fusion import fuse_arrays

    rng = np.random.default_rng(seed)
    hours = (6, 24, 24 * 7)[seed % 3]  # between frame times: within a walk's day, daily, weekly
    n_elements = 300
    finals = {f"E{k:03d}": int(rng.integers(1, 5)) for k in range(n_elements)}
    reviewed = {name: int(rng.integers(0, 4)) for name in finals if rng.random() < 0.05}
    observations = []
    for name in finals:
        # From a single frame to long histories (several padding buckets), frame times often tied
        # (the frame order then decides), confidences often repeated (exact ties in the step fit).
        for _ in range(int(rng.choice([0, 1, 2, 5, 13, 40]))):
            kind = str(rng.choice([INSTALLED, INSTALLED, ABSENT, NOT_VISIBLE]))
            frame = int(rng.integers(0, 120))
            confidence = float(rng.choice([0.3, 0.5, 0.7, 0.9, 1.0, rng.uniform(0.01, 1.0)]))
            observations.append(Observation(name, str(frame), T0 + dt.timedelta(hours=frame // 4 * hours), kind,
                                            int(rng.integers(1, finals[name] + 1)) if kind == INSTALLED else 0,
                                            confidence))
    expected = fuse(observations, finals, reviewed)
    names, arrays, final_array = _as_arrays(observations, finals)
    review = np.array([reviewed.get(name, -1) for name in names])
    got = fuse_arrays(*arrays, final_array, review)
    assert [names[k] for k in got.element] == sorted(expected)
    for row, k in enumerate(got.element):
        want = expected[names[k]]
        assert got.stage[row] == want.stage
        assert got.needs_review[row] == want.needs_review and got.reviewed[row] == want.reviewed
        assert [_utc(t) for t in got.reached_at[row] if not np.isnat(t)] == want.reached_at
        assert (_utc(got.first_seen[row]), _utc(got.last_seen[row])) == (want.first_seen, want.last_seen)
        assert (got.observations[row], got.not_visible[row]) == (want.observations, want.not_visible)
        assert got.probability[row] == pytest.approx(want.probability, rel=1e-12, abs=0)
    # The inputs reach every branch: started, not started, flagged (held, then contradicted).
    assert {0, 1, 2} <= set(got.stage.tolist()) and got.needs_review.any()


def test_the_vectorised_fusion_leaves_its_inputs_alone():
    import numpy as np

    from twin.fusion import fuse_arrays

    observations = [obs(INSTALLED, 3, 1, frame="7"), obs(ABSENT, 1, frame="12"), obs(NOT_VISIBLE, 2, frame="3")]
    names, arrays, finals = _as_arrays(observations, {"W1": 2})
    copies = [a.copy() for a in arrays]
    status = fuse_arrays(*arrays, finals)
    assert all(np.array_equal(a, c) for a, c in zip(arrays, copies, strict=True))
    assert status.stage.tolist() == [1] and status.not_visible.tolist() == [1]
