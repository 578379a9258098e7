"""Check and decode a frame file (JPEG or PNG equirectangular panorama) strictly.

Two steps, so a decompression bomb costs nothing: the header alone gives the format and the size,
which are checked (pixel limit, 2:1) before a single pixel is decoded; then the whole image is
decoded by a strict decoder, so a truncated file, a 700-byte stub or a file with a zeroed middle is
refused instead of decoding to grey. JPEG: libjpeg-turbo through simplejpeg with ``strict=True``
(any warning, "premature end of data" or "corrupt data", is an error). PNG: Pillow's ``verify``
(chunk CRCs), then OpenCV decodes it.

Pure: bytes in, pixels or :class:`FrameFileError` out; messages never contain a path.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Pixels a frame may have by default (8192 × 4096, a 32-megapixel panorama).
DEFAULT_MAX_PIXELS = 8192 * 4096


class FrameFileError(ValueError):
    """A frame that cannot be used. ``status``: the HTTP status an upload of it should get
    (415 not JPEG/PNG, 413 too many pixels, 400 unreadable or not 2:1)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FrameInfo:
    """What the header says: ``format`` "JPEG" or "PNG", size in pixels."""

    format: str
    width: int
    height: int


def frame_format(data: bytes) -> str:
    """"JPEG" or "PNG" from the magic bytes; :class:`FrameFileError` (415) otherwise."""
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    if data.startswith(PNG_MAGIC):
        return "PNG"
    raise FrameFileError("only JPEG or PNG frames are accepted", 415)


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> FrameInfo:
    """Format and size from the header only (no pixel decoded), checked: at most ``max_pixels``
    pixels (else 413) and 2:1 (else 400)."""
    from PIL import Image

    kind = frame_format(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise FrameFileError(f"too many pixels ({error})", 413) from error
        except Exception as error:  # Pillow raises many types for a broken header
            raise FrameFileError(f"not a readable image: the {kind} header is damaged ({error})") from error
    if width * height > max_pixels:
        raise FrameFileError(f"{width}×{height} is more than {max_pixels} pixels", 413)
    if width != 2 * height:
        raise FrameFileError(f"an equirectangular frame must be 2:1, got {width}×{height}")
    return FrameInfo(kind, width, height)


def decode_frame(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The frame's pixels, (H, W, 3) uint8 RGB, after :func:`read_header`'s checks; every byte of
    the image data is decoded, and any damage is a :class:`FrameFileError` (400)."""
    info = read_header(data, max_pixels)
    if info.format == "JPEG":
        import simplejpeg

        try:
            image = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
        except Exception as error:  # simplejpeg raises ValueError for libjpeg errors and warnings
            raise FrameFileError(f"not a readable image: the JPEG data is damaged or cut short ({error})"
                                 ) from error
    else:
        image = _decode_png(data)
    if image.shape[:2] != (info.height, info.width):
        raise FrameFileError(f"not a readable image: the header says {info.width}×{info.height}, "
                             f"the data {image.shape[1]}×{image.shape[0]}")
    return image


def check_frame(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> FrameInfo:
    """Everything :func:`decode_frame` checks; returns the header's :class:`FrameInfo`."""
    image = decode_frame(data, max_pixels)
    return FrameInfo(frame_format(data), image.shape[1], image.shape[0])


def _decode_png(data: bytes) -> np.ndarray:
    import cv2
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()  # every chunk's CRC, and the image data present to its end
    except Exception as error:
        raise FrameFileError(f"not a readable image: the PNG data is damaged or cut short ({error})"
                             ) from error
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameFileError("not a readable image: the PNG data does not decode")
    return np.ascontiguousarray(image[..., ::-1])
