import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.equirect import direction_to_pixel, pixel_to_direction, world_to_pixel
from vision.pose import Pose, angles_from_matrix, rotation_matrix

angles = st.floats(-math.pi + 1e-3, math.pi - 1e-3)


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 2047.49), st.floats(0.01, 1023.49))
def test_pixel_to_direction_round_trips(u, v):
    d = pixel_to_direction(u, v, 2048)
    assert np.linalg.norm(d) == np.float64(1.0) or abs(np.linalg.norm(d) - 1) < 1e-12
    u2, v2 = direction_to_pixel(d, 2048)
    assert abs(((u2 - u + 1024) % 2048) - 1024) < 1e-6
    assert abs(v2 - v) < 1e-6


@settings(max_examples=300, deadline=None)
@given(angles, st.floats(-1.5, 1.5), angles)
def test_rotation_round_trips(yaw, pitch, roll):
    back = angles_from_matrix(rotation_matrix(yaw, pitch, roll))
    np.testing.assert_allclose(rotation_matrix(*back), rotation_matrix(yaw, pitch, roll), atol=1e-9)


def test_the_centre_column_looks_forward_and_the_top_row_up():
    forward = pixel_to_direction(1023.5, 511.5, 2048)
    np.testing.assert_allclose(forward, [1, 0, 0], atol=1e-12)
    assert pixel_to_direction(100, 0, 2048)[2] > 0.99
    # Right of centre in the image is the camera's right (-y).
    assert pixel_to_direction(1023.5 + 512, 511.5, 2048)[1] < -0.99


def test_a_point_north_of_a_camera_facing_north_is_in_the_centre():
    pose = Pose(1.0, 2.0, 1.7, yaw=math.pi / 2)
    u, v, distance = world_to_pixel(np.array([1.0, 7.0, 1.7]), pose, 1024)
    assert abs(u - 511.5) < 1e-6 and abs(v - 255.5) < 1e-6 and abs(distance - 5.0) < 1e-9


def test_positive_pitch_looks_up():
    forward_world = rotation_matrix(0.0, 0.3, 0.0) @ np.array([1.0, 0, 0])
    assert forward_world[2] > 0


def test_rotations_of_many_poses_at_once_equal_each_on_its_own():
    angles = np.random.default_rng(3).uniform(-np.pi, np.pi, (7, 3))
    batched = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    assert batched.shape == (7, 3, 3)
    np.testing.assert_allclose(batched, [rotation_matrix(*map(float, a)) for a in angles], atol=1e-12)
    np.testing.assert_allclose(batched @ batched.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (7, 3, 3)), atol=1e-12)
