"""Messages a client sees (API errors, a capture's ``error`` on the camera and the dashboard) carry
no server path: an absolute path is cut to what follows the data directory or upload folder it is
in, or else to its last component."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: An absolute POSIX path of two or more components (not the ``//host/`` of a URL, not inside a word).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)+([\w.@+~-]+)")
#: Longest message kept (a capture's ``error`` column holds more, a client needs less).
MAX_LENGTH = 2000


def public_message(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` without server paths. ``roots``: folders whose prefix is removed first (the
    upload folder: ``/srv/data/uploads/3/7/capture.json`` → ``capture.json``)."""
    for root in sorted((str(r).rstrip("/") for r in roots if str(r).strip("/")), key=len, reverse=True):
        text = text.replace(root + "/", "").replace(root, ".")
    text = _ABSOLUTE_PATH.sub(r"\1", text)
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"
