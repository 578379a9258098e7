import math

import numpy as np
import pytest

from twin import taxonomy
from twin.fusion import ABSENT, INSTALLED, NOT_VISIBLE
from twin.generate import generate_building
from twin.ifc import open_model
from twin.model import build_twin
from vision.boxes import box_iou
from vision.detect import Detection
from vision.equirect import pixel_to_direction, world_rays
from vision.observe import BOX_MATCH_IOU, observe
from vision.pose import Pose
from vision.pose_search import edge_distance, refine_pose
from vision.render import Appearance, RenderScene, render_equirect
from vision.tiles import VIEWS, TileGeometry, tile_box_to_region, view_rotation
from vision.visibility import WORK_WIDTH, visibility_layers

WIDTH = 512
TILE = 320


def rows_of(twin, **match):
    return [i for i, e in enumerate(twin.elements) if all(getattr(e, k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def view(sample):
    """A pose inside the building, the id render of the finished building from it, and the nearest wall."""
    _, twin, scene, _ = sample
    pose = Pose(9.0, 3.0, 1.7, yaw=0.4)
    render = render_equirect(scene, pose, WIDTH, None)
    walls = set(rows_of(twin, tracked_class="wall"))
    centre = render.element[WIDTH // 4, :]
    wall = next(int(r) for r in centre if r in walls)
    return pose, render, wall


def tile_box(render, row, view):
    """(pixels of element ``row`` inside tile ``view``, the box of those pixels' corners there)."""
    ys, xs = np.nonzero(render.element == row)
    corners = np.array([(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)])
    directions = pixel_to_direction(xs[:, None] + corners[:, 0], ys[:, None] + corners[:, 1], WIDTH)
    x, y, front = TileGeometry(TILE).pixels(directions @ view_rotation(view))
    inside = front & (x >= 0) & (x <= TILE) & (y >= 0) & (y <= TILE)
    if not inside.any():
        return 0, None
    x, y = x[inside], y[inside]
    return int(inside.sum()), (float(x.min()), float(y.min()), float(x.max()), float(y.max()))


def detection_over(render, row, label, confidence=0.9):
    """The detection a perfect detector makes of element ``row`` in the id render: the box of its
    pixels (their corners) in the tile that sees most of them."""
    _, view = max((tile_box(render, row, v)[0], v) for v in range(len(VIEWS)))
    box = tile_box(render, row, view)[1]
    region = tuple(tile_box_to_region(view, box, TILE, WIDTH).tolist())
    return Detection(label, confidence, view, box, region, TILE)


def by_row(observations):
    return {o.row: o for o in observations}


def test_a_detected_element_is_observed_installed_at_the_detected_stage(sample, view):
    _, twin, scene, _ = sample
    pose, render, wall = view
    believed = np.ones(len(twin.elements), bool)
    det = detection_over(render, wall, taxonomy.LABEL_OF[("wall", 2)])
    obs = by_row(observe(twin, scene, pose, believed, [det], WIDTH))
    assert obs[wall].kind == INSTALLED and obs[wall].stage == 2


def test_a_visible_element_without_a_detection_is_absent(sample, view):
    _, twin, scene, _ = sample
    pose, _, wall = view
    obs = by_row(observe(twin, scene, pose, np.ones(len(twin.elements), bool), [], WIDTH))
    assert obs[wall].kind == ABSENT


def test_not_visible_is_not_absent_behind_a_believed_built_wall(sample, view):
    _, twin, scene, _ = sample
    pose, render, wall = view
    # Whatever lies behind the wall: in the render without the wall, the element hit in its place.
    without = scene.full_state()
    without[wall] = 0
    behind_render = render_equirect(scene, pose, WIDTH, without)
    behind = set(np.unique(behind_render.element[render.element == wall])) - {-1, wall}
    hidden = [r for r in behind if twin.elements[r].tracked_class and not (render.element == r).any()]
    assert hidden, "the test needs an element entirely behind the wall"
    believed = np.ones(len(twin.elements), bool)
    obs = by_row(observe(twin, scene, pose, believed, [], WIDTH))
    for row in hidden:
        assert row not in obs or obs[row].kind == NOT_VISIBLE
    # Believed not built, the wall hides nothing from the detector: the elements behind it are in
    # view (a detection of one would count). Yet none is judged absent, since the wall may be there
    # after all (built, and missed): only what nothing that may be built stands in front of is.
    believed[wall] = False
    obs = by_row(observe(twin, scene, pose, believed, [], WIDTH))
    assert any(r in obs for r in hidden)
    assert all(obs[r].kind == NOT_VISIBLE for r in hidden if r in obs)
    assert obs[wall].kind == ABSENT  # the wall itself, nearest, is


def test_visibility_layers_go_on_through_what_is_not_believed_built_and_stop_at_what_is(sample, view):
    _, twin, scene, _ = sample
    pose, render, wall = view
    origin, directions = world_rays(pose, WIDTH)
    nothing = np.zeros(len(twin.elements), bool)
    layers = visibility_layers(scene, origin, directions, nothing)
    assert (layers[0] == render.element).all()  # the first layer is what the camera sees
    behind_wall = layers[:, render.element == wall]
    assert (behind_wall[1] >= 0).mean() > 0.9  # the wall is not believed built: rays go on
    assert (behind_wall[1] != wall).all()  # leaving it is not meeting it again
    believed = nothing.copy()
    believed[wall] = True
    layers = visibility_layers(scene, origin, directions, believed)
    assert (layers[1:, render.element == wall] == -1).all()  # believed built: it stops the rays


def test_the_edge_map_is_sampled_the_shift_right_of_and_below_each_projection(sample, view):
    from vision.equirect import world_to_pixel
    from vision.pose_search import boundary_points, points_scores

    _, twin, scene, _ = sample
    pose = view[0]
    points = boundary_points(scene.scene(np.ones(len(twin.elements), np.int8)), pose, WORK_WIDTH)
    u, v, _ = world_to_pixel(points, pose, WORK_WIDTH)
    points = points[(u > 2) & (u < WORK_WIDTH - 3) & (v > 2) & (v < WORK_WIDTH // 2 - 3)]  # off the edges
    rows, cols = np.mgrid[0:WORK_WIDTH // 2, 0:WORK_WIDTH].astype(np.float32)
    for shift in (0.25, 0.5):
        for ramp in (cols, rows):  # a map that is its own column (row) number samples the projections
            plain, moved = (points_scores(points, [pose], ramp, truncation=1e9, shift=s)[0]
                            for s in (0.0, shift))
            assert moved - plain == pytest.approx(shift, abs=1e-3)


def test_boundary_points_cast_at_full_width_only_near_boundaries_are_those_of_a_full_cast(sample, view,
                                                                                         monkeypatch):
    from vision import pose_search
    from vision.pose_search import boundaries, boundary_points

    _, twin, scene, state = sample
    pose = view[0]
    built = scene.scene(state)
    monkeypatch.setattr(pose_search, "MAX_SCORE_POINTS", 10 ** 9)  # every boundary pixel
    points = boundary_points(built, pose, WORK_WIDTH)
    origin, directions = world_rays(pose, WORK_WIDTH)
    hits = built.cast(origin, directions)
    edge = boundaries(hits.element) & np.isfinite(hits.distance)
    everywhere = origin + directions[edge] * hits.distance[edge][:, None]
    found = {tuple(p) for p in np.round(points, 4)}
    assert found <= {tuple(p) for p in np.round(everywhere, 4)}
    assert len(found) >= 0.95 * len(everywhere)


def test_pose_refinement_recovers_the_true_pose_from_a_noisy_prior(sample):
    _, twin, scene, state = sample
    rng = np.random.default_rng(5)
    truth = Pose(9.0, 3.0, 1.75, yaw=0.7)
    image = render_equirect(scene, truth, 1024, state, Appearance.randomised(2)).rgb
    occluders = scene.scene(state)
    errors = []
    for _ in range(3):
        prior = Pose(truth.x + rng.normal(0, 0.3), truth.y + rng.normal(0, 0.3), truth.z,
                     truth.yaw + math.radians(rng.normal(0, 5)), 0.0, 0.0)
        pose, score, prior_score = refine_pose(occluders, prior, edge_distance(image))
        assert score <= prior_score
        errors.append((math.hypot(prior.x - truth.x, prior.y - truth.y), math.hypot(pose.x - truth.x, pose.y - truth.y),
                       abs(math.degrees(pose.yaw - truth.yaw))))
    assert np.median([e[1] for e in errors]) < 0.1
    assert np.median([e[2] for e in errors]) < 1.0
    assert all(after <= before for before, after, _ in errors)


def test_pose_refinement_recovers_the_height_and_tilt_the_prior_got_wrong(sample):
    _, twin, scene, state = sample
    truth = Pose(9.0, 3.0, 1.75, yaw=0.7)
    image = render_equirect(scene, truth, 1024, state, Appearance.randomised(2)).rgb
    prior = Pose(truth.x + 0.2, truth.y - 0.15, truth.z + 0.07, truth.yaw + 0.04, math.radians(1.0),
                 math.radians(-0.8))
    pose, score, prior_score = refine_pose(scene.scene(state), prior, edge_distance(image))
    assert score < prior_score
    assert abs(pose.z - truth.z) < 0.02  # 7 cm off in the prior
    assert abs(pose.pitch) < math.radians(0.4) and abs(pose.roll) < math.radians(0.4)
    assert math.hypot(pose.x - truth.x, pose.y - truth.y) < 0.03


def test_the_polish_moves_all_six_parameters_at_once_towards_the_minimum_and_never_away(sample):
    from vision.pose_search import EDGE_SHIFT, boundary_points, points_score, polish_pose

    _, twin, scene, state = sample
    truth = Pose(9.0, 3.0, 1.75, yaw=0.7)
    image = render_equirect(scene, truth, 1024, state, Appearance.randomised(2)).rgb
    distance = edge_distance(image)
    points = boundary_points(scene.scene(state), truth, WORK_WIDTH)
    # Off along a valley a grid search moving x, y, yaw and then tilt crosses slowly: moved and tilted.
    start = Pose(truth.x + 0.04, truth.y - 0.03, truth.z + 0.02, truth.yaw - 0.004, math.radians(0.6),
                 math.radians(-0.5))
    polished = polish_pose(points, start, distance, truth, EDGE_SHIFT)
    before, after = (math.hypot(p.x - truth.x, p.y - truth.y) for p in (start, polished))
    assert after < before / 2
    # It reaches the bottom of the basin: as low as the truth scores (the photograph's edges put the
    # minimum a centimetre or two from it), from a start that scores far worse.
    at = {name: points_score(points, p, distance, shift=EDGE_SHIFT)
          for name, p in (("start", start), ("polished", polished), ("truth", truth))}
    assert at["polished"] <= at["truth"] < at["start"] - 0.2
    blank = np.full(distance.shape, 50.0, np.float32)  # nothing to gain: the start is kept as it is
    assert polish_pose(points, start, blank, start, EDGE_SHIFT) == start


def walls_behind(sample, view):
    """(state without the view's wall, the render without it, walls seen where that wall was)."""
    _, twin, scene, _ = sample
    pose, render, wall = view
    without = scene.full_state()
    without[wall] = 0
    behind_render = render_equirect(scene, pose, WIDTH, without)
    walls = [r for r in np.unique(behind_render.element[render.element == wall])
             if r >= 0 and twin.elements[r].tracked_class == "wall"]
    return without, behind_render, walls


def test_a_detection_supports_the_nearest_element_of_its_class_not_those_behind(sample, view):
    _, twin, scene, _ = sample
    pose, render, wall = view
    _, _, behind = walls_behind(sample, view)
    assert behind, "the test needs a wall behind the wall"
    believed = np.zeros(len(twin.elements), bool)  # nothing believed built: rays pass through both
    det = detection_over(render, wall, taxonomy.LABEL_OF[("wall", 1)])
    obs = by_row(observe(twin, scene, pose, believed, [det], WIDTH))
    assert obs[wall].kind == INSTALLED
    assert all(obs[r].kind != INSTALLED for r in behind if r in obs)


def test_a_wall_seen_through_an_unbuilt_wall_in_front_is_supported_by_the_box_that_fits_it(sample, view):
    """Before the wall in front is built, the camera sees the wall behind it; the detector's box fits
    that far wall, though every ray through the box meets the near one first."""
    _, twin, scene, _ = sample
    pose, render, wall = view
    without, behind_render, walls = walls_behind(sample, view)
    # The far wall mostly hidden by the near one in the finished building.
    hidden_share = {r: ((behind_render.element == r) & (render.element == wall)).sum()
                    / (behind_render.element == r).sum() for r in walls}
    far = max(hidden_share, key=hidden_share.get)
    assert hidden_share[far] > 0.5, "the test needs a wall mostly behind the near wall"
    believed = without.astype(bool)  # all built but the near wall
    det = detection_over(behind_render, far, taxonomy.LABEL_OF[("wall", 1)])
    obs = by_row(observe(twin, scene, pose, believed, [det], WIDTH))
    assert obs[far].kind == INSTALLED
    assert obs[wall].kind != INSTALLED


def test_a_beam_overhead_is_matched_by_its_box_in_the_tile_that_saw_it(sample):
    """A straight beam above the camera is a curve in the panorama, and a thin one: the detection's
    box mapped from its tile to the panorama fits the beam's panorama box badly, and the beam fills
    little of it. In the tile the detector saw it in, both are the boxes of a straight beam."""
    _, twin, scene, _ = sample
    aabb = twin.geometry.aabb
    structure = rows_of(twin, tracked_class="beam") + rows_of(twin, tracked_class="column") + rows_of(
        twin, tracked_class="slab")
    state = scene.full_state() * 0
    state[structure] = scene.full_state()[structure]  # the frame is up, nothing else built yet
    beams = rows_of(twin, tracked_class="beam")
    lowest = min(aabb[r, 2] for r in beams)
    beam = max((r for r in beams if aabb[r, 2] < lowest + 0.5), key=lambda r: aabb[r, 3] - aabb[r, 0])
    pose = Pose((aabb[beam, 0] + aabb[beam, 3]) / 2, (aabb[beam, 1] + aabb[beam, 4]) / 2 + 1.5,
                aabb[beam, 2] - 2.0, yaw=0.3)
    render = render_equirect(scene, pose, WIDTH, state)
    det = detection_over(render, beam, taxonomy.LABEL_OF[("beam", 1)])
    assert det.tile == VIEWS.index((0.0, math.pi / 2))  # the tile looking up
    ys, xs = np.nonzero(render.element == beam)
    panorama_box = np.array([[xs.min()], [ys.min()], [xs.max() + 1], [ys.max() + 1]], float)
    assert box_iou(np.array(det.region), panorama_box)[0] < BOX_MATCH_IOU, "the test needs a curved beam"
    obs = by_row(observe(twin, scene, pose, state.astype(bool), [det], WIDTH))
    assert obs[beam].kind == INSTALLED


@pytest.fixture(scope="module")
def attic(tmp_path_factory):
    """A generated one-storey building under a gable roof: (twin, render scene, rafter rows)."""
    path = tmp_path_factory.mktemp("attic") / "attic.ifc"
    generate_building(path, storeys=1, bays=(3, 2), seed=11, roof="gable")
    twin = build_twin(open_model(path), threads=2)
    top = max(s.elevation for s in twin.storeys)
    rafters = [r for r in rows_of(twin, tracked_class="beam") if twin.geometry.aabb[r, 2] > top - 0.1]
    return twin, RenderScene(twin), rafters


def test_a_rafter_whose_box_a_neighbours_detection_fits_is_not_absent(attic):
    """Looking along an attic, the rafters of a row have nearly the same box in a tile, and the
    detector keeps one box for the two (its NMS). The rafter the detection goes to is installed;
    the one it fits as well is no evidence either way, not absent; one it does not fit is absent."""
    twin, scene, rafters = attic
    pose = Pose(1.0, 3.0, 4.8, yaw=0.0)  # in the attic, under one slope, looking along the ridge
    state = scene.full_state()
    render = render_equirect(scene, pose, WIDTH, state)
    boxes = {r: tile_box(render, r, 0) for r in rafters}
    boxes = {r: np.array(box) for r, (count, box) in boxes.items() if count >= 60}
    pairs = [(box_iou(boxes[a], boxes[b][:, None])[0], a, b) for a in boxes for b in boxes if a != b]
    overlap, near, twin_rafter = max(pairs)
    assert overlap > 0.7, "the test needs two rafters with nearly the same box"
    far = min(boxes, key=lambda r: box_iou(boxes[near], boxes[r][:, None])[0])
    assert box_iou(boxes[near], boxes[far][:, None])[0] < 0.3
    box = tuple(boxes[near].tolist())
    det = Detection(taxonomy.LABEL_OF[("beam", 1)], 0.9, 0, box,
                    tuple(tile_box_to_region(0, box, TILE, WIDTH).tolist()), TILE)
    obs = by_row(observe(twin, scene, pose, state.astype(bool), [det], WIDTH))
    supported = [r for r in (near, twin_rafter) if obs[r].kind == INSTALLED]
    assert len(supported) == 1  # one box, one rafter
    other = twin_rafter if supported == [near] else near
    assert obs[other].kind == NOT_VISIBLE
    assert obs[far].kind == ABSENT


def test_claims_are_never_below_even_odds_and_absence_of_an_unreliable_class_weighs_less(sample, view,
                                                                                         monkeypatch):
    monkeypatch.setenv("SITETWIN_CALIBRATION", "none")  # the raw confidences (calibration: test_calibrate.py)
    _, twin, scene, _ = sample
    pose, render, wall = view
    believed = np.ones(len(twin.elements), bool)
    weak = detection_over(render, wall, taxonomy.LABEL_OF[("wall", 1)], confidence=0.05)  # barely confident
    seen = by_row(observe(twin, scene, pose, believed, [weak], WIDTH))
    assert seen[wall].kind == INSTALLED and seen[wall].confidence > 0.5
    trusted = by_row(observe(twin, scene, pose, believed, [], WIDTH, reliability={"wall": 1.0}))
    doubted = by_row(observe(twin, scene, pose, believed, [], WIDTH, reliability={"wall": 0.2}))
    assert trusted[wall].kind == doubted[wall].kind == ABSENT
    assert 0.5 < doubted[wall].confidence < trusted[wall].confidence
    assert all(o.confidence >= 0.5 for o in trusted.values())


def test_observe_maps_its_claims_through_the_calibration_table(sample, view, monkeypatch, tmp_path):
    import json

    from vision.calibrate import FORMAT

    _, twin, scene, _ = sample
    pose, render, wall = view
    believed = np.ones(len(twin.elements), bool)
    table = tmp_path / "calibration.json"
    table.write_text(json.dumps({"format": FORMAT, "maps": {
        "wall": {"installed": {"raw": [0.5, 1.0], "calibrated": [0.6, 0.6]},
                 "absent": {"raw": [0.5, 1.0], "calibrated": [0.55, 0.55]}}}}))
    det = detection_over(render, wall, taxonomy.LABEL_OF[("wall", 1)])
    monkeypatch.setenv("SITETWIN_CALIBRATION", "none")
    raw = by_row(observe(twin, scene, pose, believed, [det], WIDTH))
    monkeypatch.setenv("SITETWIN_CALIBRATION", str(table))
    calibrated = by_row(observe(twin, scene, pose, believed, [det], WIDTH))
    assert raw[wall].kind == calibrated[wall].kind == INSTALLED
    assert raw[wall].confidence > 0.9 and calibrated[wall].confidence == pytest.approx(0.6)
    for row, o in calibrated.items():
        cls = twin.elements[row].tracked_class
        if o.kind == ABSENT and cls == "wall":
            assert o.confidence == pytest.approx(0.55)
        elif o.kind != NOT_VISIBLE and cls != "wall":
            assert o.confidence == raw[row].confidence  # no map for its class: unchanged


def test_the_bundled_detector_carries_its_per_class_reliability():
    from vision.detect import BUNDLED_WEIGHTS, class_reliability, model_card

    reliability = class_reliability(model_card(BUNDLED_WEIGHTS))
    assert set(reliability) <= set(taxonomy.CLASS_NAMES) and {"wall", "window", "slab"} <= set(reliability)
    assert all(0.0 <= v <= 1.0 for v in reliability.values())
    assert reliability["window"] > reliability["pipe"]  # as the model card measured them


def test_scoring_many_poses_at_once_samples_the_edge_map_bilinearly(sample, view):
    from vision.equirect import world_to_pixel
    from vision.pose_search import boundary_points, points_scores

    _, twin, scene, _ = sample
    pose, _, _ = view
    distance = np.random.default_rng(0).random((WORK_WIDTH // 2, WORK_WIDTH)).astype(np.float32) * 10
    points = boundary_points(scene.scene(np.ones(len(twin.elements), np.int8)), pose, WORK_WIDTH)
    poses = [Pose(pose.x + dx, pose.y, pose.z, pose.yaw + dyaw) for dx in (-0.3, 0, 0.3) for dyaw in (-0.1, 0, 0.1)]
    batched = points_scores(points, poses, distance, truncation=4.0)
    # The reference: each pose on its own, in float64, interpolating the four neighbours by hand
    # (wrapping left/right, clamped top/bottom).
    reference = []
    for p in poses:
        u, v, _ = world_to_pixel(points, p, WORK_WIDTH)
        v = np.clip(v, 0, distance.shape[0] - 1)
        u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
        fu, fv = u - u0, v - v0
        cols = np.mod([u0, u0 + 1], WORK_WIDTH)
        rows = np.minimum([v0, v0 + 1], distance.shape[0] - 1)
        sampled = ((1 - fv) * ((1 - fu) * distance[rows[0], cols[0]] + fu * distance[rows[0], cols[1]])
                   + fv * ((1 - fu) * distance[rows[1], cols[0]] + fu * distance[rows[1], cols[1]]))
        reference.append(np.minimum(sampled, 4.0).mean())
    np.testing.assert_allclose(batched, reference, rtol=1e-3)


def test_the_prior_penalty_grows_with_departure_in_sigmas_and_wraps_yaw():
    from vision.pose_search import (
        PRIOR_SIGMA_M,
        PRIOR_SIGMA_TILT,
        PRIOR_SIGMA_YAW,
        PRIOR_SIGMA_Z,
        PRIOR_WEIGHT,
        prior_penalty,
    )

    prior = Pose(1.0, 2.0, 1.7, yaw=math.pi - 0.01, pitch=0.01)
    penalty = prior_penalty([prior, Pose(1.0 + PRIOR_SIGMA_M, 2.0, 1.7, yaw=prior.yaw, pitch=0.01),
                             Pose(1.0, 2.0 - 2 * PRIOR_SIGMA_M, 1.7, yaw=prior.yaw, pitch=0.01),
                             Pose(1.0, 2.0, 1.7, yaw=prior.yaw + PRIOR_SIGMA_YAW - 2 * math.pi, pitch=0.01),
                             Pose(1.0, 2.0, 1.7, yaw=prior.yaw, pitch=0.01 - PRIOR_SIGMA_TILT,
                                  roll=2 * PRIOR_SIGMA_TILT),
                             Pose(1.0, 2.0, 1.7 - 3 * PRIOR_SIGMA_Z, yaw=prior.yaw, pitch=0.01)], prior)
    np.testing.assert_allclose(penalty, [0.0, PRIOR_WEIGHT, 4 * PRIOR_WEIGHT, PRIOR_WEIGHT, 5 * PRIOR_WEIGHT,
                                         9 * PRIOR_WEIGHT], atol=1e-9)


def test_a_frame_without_edges_keeps_its_prior(sample):
    _, twin, scene, state = sample
    prior = Pose(9.0, 3.0, 1.75, yaw=0.7)
    blank = np.full((WIDTH // 2, WIDTH), 50.0, np.float32)  # no edge anywhere: every pose scores the same
    pose, score, prior_score = refine_pose(scene.scene(state), prior, blank)
    assert pose == prior and score == prior_score


def test_too_few_anchor_points_keep_the_prior(sample):
    from vision.pose_search import MIN_ANCHOR_POINTS, boundary_points

    _, twin, scene, state = sample
    truth = Pose(9.0, 3.0, 1.75, yaw=0.7)
    image = render_equirect(scene, truth, 1024, state, Appearance.randomised(2)).rgb
    distance = edge_distance(image)
    prior = Pose(truth.x + 0.3, truth.y - 0.2, truth.z, truth.yaw + 0.05)
    # The smallest tracked element in view alone: a handful of boundary points that fit anywhere.
    sizes = {row: len(boundary_points(scene.scene(np.arange(len(twin.elements)) == row), prior, distance.shape[1]))
             for row in rows_of(twin, storey=twin.storeys[0].global_id) if twin.elements[row].tracked_class}
    row = min((r for r, n in sizes.items() if n), key=sizes.get)
    assert sizes[row] < MIN_ANCHOR_POINTS
    pose, score, prior_score = refine_pose(scene.scene(np.arange(len(twin.elements)) == row), prior, distance)
    assert pose == prior and score == prior_score
