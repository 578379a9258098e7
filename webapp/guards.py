"""Request guards for the whole app, run before any view reads its input.

What a database or a parser would otherwise turn into a 500 is refused up front with a clear 4xx
(JSON ``{"error": ...}`` under ``/api/``, an error page elsewhere), and nothing is changed:

- a control character (U+0000–U+001F, U+007F) in the URL path or in a query parameter (PostgreSQL
  cannot store NUL; nothing the app serves has a control character in its URL) → 400;
- a control character other than tab, CR and LF in a form field or in a JSON string or key → 400
  naming the field (``$.frames[2].file`` for JSON);
- a JSON body nested deeper than ``SITETWIN_MAX_JSON_DEPTH`` (default 32) → 400, measured on the raw
  bytes before anything parses them (Python's parser would hit its recursion limit first);
- an integer in the URL outside PostgreSQL's ``integer`` (above 2³¹ − 1) → 404: no such row can exist.

Page numbers (``?page=``) are clamped by the dashboard's paginator itself.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, abort, current_app, request

#: Ids are PostgreSQL ``integer`` columns: anything larger names no row (SQLite overflows at 2⁶³).
MAX_ID = 2**31 - 1
#: In a URL or query string nothing legitimate is a control character.
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: In free text (form fields, JSON strings) tab, CR and LF are text; the rest are not.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: JSON strings (with their escapes) and everything but brackets, removed before measuring depth.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


class Refused(Exception):
    """A request refused by a guard: ``status`` and a message naming what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _has(pattern: re.Pattern, *texts: object) -> bool:
    """Whether any of ``texts`` that is a string contains ``pattern`` (a parser may hand over None)."""
    return any(isinstance(text, str) and pattern.search(text) for text in texts)


def _describe(text: str) -> str:
    found = _URL_CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else "a control character"


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``body`` (0 for a scalar); brackets
    inside strings do not count. Linear in the body's size, no parsing."""
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _json_control(value: Any) -> str | None:
    """The JSON path of the first string (value or key) with a control character, else None."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _TEXT_CONTROL.search(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if _has(_TEXT_CONTROL, key):
                    return f"{path} (a key)"
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{k}]", child) for k, child in enumerate(item))
    return None


def check_url() -> None:
    if _URL_CONTROL.search(request.path):
        raise Refused(400, f"the URL path contains a control character ({_describe(request.path)})")
    for key, value in request.args.items(multi=True):
        if _has(_URL_CONTROL, key, value):
            raise Refused(400, f"query parameter {key!r} contains a control character")
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise Refused(404, f"no {name.removesuffix('_id')} {value}: ids go up to {MAX_ID}")


def check_json() -> None:
    if not request.is_json or not request.content_length:
        return
    body = request.get_data(cache=True)
    limit = int(current_app.config.get("SITETWIN_MAX_JSON_DEPTH", 32))
    depth = json_depth(body)
    if depth > limit:
        raise Refused(400, f"JSON nested {depth} deep; at most {limit} levels are accepted")
    data = request.get_json(silent=True)  # cached: the view gets the same object (None when malformed)
    path = _json_control(data) if data is not None else None
    if path:
        raise Refused(400, f"JSON string at {path} contains a control character (NUL or other)")


def check_form() -> None:
    if request.method not in ("POST", "PUT", "PATCH") or request.mimetype not in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        return
    for key, value in request.form.items(multi=True):
        if _has(_TEXT_CONTROL, key, value):
            raise Refused(400, f"form field {key!r} contains a control character (NUL or other)")


def guard_request():
    """The before-request hook: every check, in order; a refusal answers instead of the view."""
    try:
        check_url()
        check_json()
        check_form()
    except Refused as refused:
        if request.path.startswith("/api/"):
            from webapp.api.auth import error

            return error(refused.status, str(refused))
        abort(refused.status, description=str(refused))
    return None


def init_app(app: Flask) -> None:
    """Register the guards: after the upload limits (so a body is never read past its limit) and
    before CSRF and the views read any input."""
    app.before_request(guard_request)
