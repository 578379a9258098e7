"""vision.frame_file: a frame's header is checked before any pixel is decoded, then every byte is
decoded strictly, so a damaged JPEG or PNG is refused rather than decoded to grey."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from vision.frame_file import FrameFileError, check_frame, decode_frame, read_header


def encode(fmt: str, width=512, height=256, seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def damaged(data: bytes, how: str) -> bytes:
    n = len(data)
    return {
        "stub of 700 bytes": data[:700],
        "40 % of the file": data[: int(n * 0.4)],
        "90 % of the file": data[: int(n * 0.9)],
        "last bytes cut": data[:-12],
        "zeroed middle": data[: n // 3] + bytes(n // 3) + data[2 * (n // 3):],
    }[how]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_good_frame_decodes_to_the_same_pixels_as_opencv(fmt):
    data = encode(fmt)
    image = decode_frame(data)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert image.shape == (256, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(image, reference)
    assert check_frame(data).format == fmt


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("how", ["stub of 700 bytes", "40 % of the file", "90 % of the file",
                                 "last bytes cut", "zeroed middle"])
def test_a_damaged_frame_is_refused(fmt, how):
    data = damaged(encode(fmt), how)
    # OpenCV alone accepts most of these (grey fill): the reason for a strict decoder.
    with pytest.raises(FrameFileError, match="not a readable image") as refused:
        decode_frame(data)
    assert refused.value.status == 400


def test_the_pixel_limit_is_checked_from_the_header_before_decoding():
    # A JPEG header claiming 60000×30000 with no image data after it: refused as too big, not as
    # damaged, so nothing was decoded.
    data = encode("JPEG", 512, 256)
    sof, sos = data.index(b"\xff\xc0"), data.index(b"\xff\xda")
    bomb = data[: sof + 5] + (30000).to_bytes(2, "big") + (60000).to_bytes(2, "big") + data[sof + 9: sos + 64]
    with pytest.raises(FrameFileError, match="pixels") as refused:
        read_header(bomb)
    assert refused.value.status == 413
    with pytest.raises(FrameFileError, match="more than 100 pixels") as small_limit:
        decode_frame(encode("JPEG"), max_pixels=100)
    assert small_limit.value.status == 413


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"GIF89a\x01\x00\x01\x00", 415, "only JPEG or PNG"),
    (b"", 415, "only JPEG or PNG"),
    (b"\xff\xd8\xff\xe0 a header and nothing else", 400, "header is damaged"),
])
def test_other_files_are_refused_with_their_status(data, status, words):
    with pytest.raises(FrameFileError, match=words) as refused:
        decode_frame(data)
    assert refused.value.status == status


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_frame_that_is_not_two_to_one_is_refused(fmt):
    with pytest.raises(FrameFileError, match="2:1, got 300×200"):
        decode_frame(encode(fmt, 300, 200))
