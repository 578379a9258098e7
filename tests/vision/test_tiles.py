import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.equirect import direction_to_pixel
from vision.pose import Pose
from vision.render import Appearance, Intrinsics, render_equirect, render_perspective
from vision.tiles import (
    FOV_DEG,
    VIEWS,
    TileGeometry,
    cut_tiles,
    merge_regions,
    panorama_in_tile,
    region_iou,
    region_ious,
    tile_box_to_region,
    tile_boxes_to_regions,
    view_rotation,
)

SIZE, WIDTH = 128, 1024


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(VIEWS) - 1), st.floats(1, SIZE - 1), st.floats(1, SIZE - 1))
def test_tile_to_sphere_to_tile_round_trips(view, x, y):
    tile = TileGeometry(SIZE)
    camera = tile.directions(x, y) @ view_rotation(view).T  # tile pixel → panorama camera frame
    u, v = direction_to_pixel(camera, WIDTH)  # → panorama pixel
    lon = 2 * math.pi * (0.5 - (u + 0.5) / WIDTH)
    lat = math.pi * (0.5 - (v + 0.5) / (WIDTH // 2))
    back = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    x2, y2, front = tile.pixels(back @ view_rotation(view))  # → tile pixel again
    assert front and abs(x2 - x) < 1e-6 and abs(y2 - y) < 1e-6


def test_panorama_pixels_land_in_a_tile_where_the_tile_samples_them():
    """panorama_in_tile inverts the tile's sampling: the panorama pixel a tile pixel samples lands
    back on that tile pixel, and pixels outside the view are outside the tile."""
    width, view = 256, 9
    lookup, coordinates = panorama_in_tile(view, width, SIZE)
    tile = TileGeometry(SIZE)
    y, x = np.mgrid[6:SIZE - 6:7, 6:SIZE - 6:7] + 0.5  # away from the edges a pixel's neighbour may leave
    u, v = direction_to_pixel(tile.directions(x, y) @ view_rotation(view).T, width)
    flat = np.round(v).astype(int) * width + np.round(u).astype(int) % width
    assert (lookup[flat] >= 0).all()
    landed = coordinates[lookup[flat]]
    footprint = tile.focal * 2 * math.pi / width  # tile pixels per panorama pixel at the centre; 2× at edges
    assert np.abs(landed[..., 0] - x).max() < 2 * footprint
    assert np.abs(landed[..., 1] - y).max() < 2 * footprint
    horizon = (width // 4) * width + np.arange(width)  # the horizon row: nowhere in the tile looking down
    assert (lookup[horizon] == -1).all()
    assert len(coordinates) == (lookup >= 0).sum()


def test_tiles_look_like_direct_perspective_renders(sample):
    _, _, scene, state = sample
    pose = Pose(9.0, 3.0, 1.7, yaw=0.4)
    panorama = render_equirect(scene, pose, 2048, state, Appearance(texture=False))
    tiles = cut_tiles(panorama.rgb, SIZE)
    assert tiles.shape == (len(VIEWS), SIZE, SIZE, 3)
    for view in (0, 3, 8, 9):
        yaw, pitch = VIEWS[view]
        direct_pose = Pose(pose.x, pose.y, pose.z, pose.yaw + yaw, pitch, 0.0) if view < 8 else None
        if direct_pose is None:  # up/down views: same rotation composed with the pose
            from vision.pose import angles_from_matrix

            direct_pose = Pose(pose.x, pose.y, pose.z, *angles_from_matrix(pose.rotation @ view_rotation(view)))
        direct = render_perspective(scene, direct_pose, Intrinsics.from_fov(SIZE, SIZE, FOV_DEG), state,
                                    Appearance(texture=False))
        difference = np.abs(tiles[view].astype(int) - direct.rgb.astype(int)).mean()
        assert difference < 12, (view, difference)


def test_a_box_across_the_seam_is_one_region_that_wraps():
    # View 4 looks backwards (yaw π): the panorama's left/right seam runs down its middle.
    region = tile_box_to_region(4, [40, 40, 90, 90], SIZE, WIDTH)
    assert region[0] < WIDTH <= region[2]
    assert region[2] - region[0] < WIDTH / 4


def test_the_same_object_seen_in_two_overlapping_tiles_is_merged():
    # An object straight ahead at yaw 22.5°: left half of view 0, right half of view 1.
    target = np.array([math.cos(math.radians(22.5)), math.sin(math.radians(22.5)), 0.0])
    boxes = []
    for view in (0, 1):
        x, y, _ = TileGeometry(SIZE).pixels(target @ view_rotation(view))
        boxes.append(tile_box_to_region(view, [x - 10, y - 15, x + 10, y + 15], SIZE, WIDTH))
    kept = merge_regions(np.array(boxes), np.array([0.9, 0.8]), np.array([3, 3]), WIDTH)
    assert list(kept) == [0]
    # Different classes in the same place are both kept.
    assert len(merge_regions(np.array(boxes), np.array([0.9, 0.8]), np.array([3, 4]), WIDTH)) == 2
    # Told the tiles, it still merges the two: they come from different tiles.
    assert list(merge_regions(np.array(boxes), np.array([0.9, 0.8]), np.array([3, 3]), WIDTH,
                              tiles=np.array([0, 1]))) == [0]


def test_overlapping_boxes_of_one_tile_are_not_merged_again():
    # Two rafters side by side in one tile overlap by more than the merge IoU; the tile's NMS kept
    # both, and they are two elements, not one seen twice.
    a = tile_box_to_region(0, [100, 40, 160, 200], SIZE, WIDTH)
    b = tile_box_to_region(0, [112, 40, 172, 200], SIZE, WIDTH)
    assert region_iou(a, b, WIDTH) > 0.45
    scores, labels = np.array([0.9, 0.8]), np.array([4, 4])
    assert sorted(merge_regions(np.array([a, b]), scores, labels, WIDTH, tiles=np.array([0, 0]))) == [0, 1]
    assert list(merge_regions(np.array([a, b]), scores, labels, WIDTH, tiles=np.array([0, 1]))) == [0]


regions = st.tuples(st.floats(0, 1000), st.floats(0, 400), st.floats(1, 300), st.floats(1, 100)).map(
    lambda r: np.array([r[0], r[1], r[0] + r[2], r[1] + r[3]]))


@settings(max_examples=200, deadline=None)
@given(regions, regions)
def test_region_overlap_is_symmetric_and_bounded(a, b):
    assert region_iou(a, b, WIDTH) == region_iou(b, a, WIDTH)
    assert 0.0 <= region_iou(a, b, WIDTH) <= 1.0
    assert region_iou(a, a, WIDTH) == 1.0


def seam_iou(a, b, width: int) -> float:
    """Reference IoU of two panorama regions, written out: the best over ``b`` as it is and moved one
    panorama width left or right (the seam)."""
    both = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    best = 0.0
    for shift in (-width, 0, width):
        inter = max(0.0, min(a[2], b[2] + shift) - max(a[0], b[0] + shift)) * iy
        best = max(best, inter / (both - inter))
    return best


def test_a_batch_of_boxes_maps_and_overlaps_as_each_box_alone():
    # Boxes anywhere in every view, including ones around the poles (views 8 and 9 look up and
    # down) and across the panorama's seam (view 4 looks backwards).
    rng = np.random.default_rng(3)
    corners = np.sort(rng.uniform(0, SIZE, (40, 2, 2)), axis=1)
    boxes = np.column_stack([corners[:, 0, 0], corners[:, 0, 1], corners[:, 1, 0] + 1, corners[:, 1, 1] + 1])
    boxes[0] = [10, 10, SIZE - 10, SIZE - 10]  # contains the view's centre: a pole in views 8 and 9
    everything = []
    for view in range(len(VIEWS)):
        batch = tile_boxes_to_regions(view, boxes, SIZE, WIDTH)
        np.testing.assert_array_equal(batch, [tile_box_to_region(view, box, SIZE, WIDTH) for box in boxes])
        everything.append(batch)
    everything = np.concatenate(everything)
    assert (everything[len(boxes) * 8, [0, 2]] == [-0.5, WIDTH - 0.5]).all()  # around the zenith
    some = everything[::13]
    # region_iou is region_ious on one pair: compare with the IoU written out instead.
    np.testing.assert_allclose(region_ious(some, some, WIDTH),
                               [[seam_iou(a, b, WIDTH) for b in some] for a in some], atol=1e-12)
