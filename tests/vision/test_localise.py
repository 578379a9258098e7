"""vision.localise: the walk's continuity decides between places, and an ambiguous frame is not guessed."""

import math

import numpy as np

from vision.localise import Hypothesis, localise_walk
from vision.pose import Pose


def _hyp(x, y, score, storey="L0"):
    return Hypothesis(storey, Pose(x, y, 1.75), score)


def test_continuity_picks_the_path_a_walker_can_walk_over_a_slightly_better_jump():
    # Frame 1 matches a place 10 m away a little better than the one beside frames 0 and 2.
    walk = [[_hyp(0, 0, 1.0), _hyp(10, 10, 1.8)],
            [_hyp(10, 0, 0.95), _hyp(1.5, 0, 1.0)],
            [_hyp(3, 0, 1.0), _hyp(12, 10, 1.8)]]
    found = localise_walk(walk, seconds=[0.0, 2.0, 4.0])
    assert [(f.pose.x, f.pose.y) for f in found] == [(0, 0), (1.5, 0), (3, 0)]
    assert all(f.reason is None and f.margin > 0 for f in found)


def test_a_frame_two_places_match_alike_is_not_localised_and_says_why():
    found = localise_walk([[_hyp(0, 0, 1.0), _hyp(8, 0, 1.01)]])
    assert found[0].pose is None and "ambiguous" in found[0].reason


def test_a_start_pin_resolves_a_symmetric_first_frame():
    hyps = [[_hyp(0, 0, 1.0), _hyp(8, 0, 1.0)]]
    assert localise_walk(hyps)[0].pose is None
    found = localise_walk(hyps, start=("L0", Pose(7.5, 0.5, 0.0, math.nan)))
    assert (found[0].pose.x, found[0].pose.y) == (8, 0)


def test_the_walk_stays_on_one_storey_where_one_frame_alone_would_pick_another():
    walk = [[_hyp(0, 0, 1.0, "L0"), _hyp(0, 0, 1.5, "L1")],
            [_hyp(1, 0, 1.2, "L0"), _hyp(1, 0, 0.9, "L1")],
            [_hyp(2, 0, 1.0, "L0"), _hyp(2, 0, 1.5, "L1")]]
    found = localise_walk(walk, seconds=[0.0, 1.5, 3.0])
    assert [f.storey for f in found] == ["L0"] * 3 and all(f.pose is not None for f in found)


def test_a_frame_between_two_known_places_is_drawn_towards_the_straight_line():
    hyps = [[_hyp(2, 0, 1.0), _hyp(2, 6, 1.0)]]
    assert localise_walk(hyps)[0].pose is None
    found = localise_walk(hyps, near=[(2.0, 0.5, 0.5)])
    assert (found[0].pose.x, found[0].pose.y) == (2, 0)
    assert np.isfinite(found[0].margin)
