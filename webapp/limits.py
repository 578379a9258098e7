"""Request size limits: MAX_CONTENT_LENGTH is a frame's worth; a view that takes a video, a model
or a schedule declares a larger limit with :func:`upload_limit`, applied to its requests only
(Flask 3.1's per-request limit) before anything reads the body, CSRF checks included."""

from __future__ import annotations

from flask import Flask, current_app, request

#: Room for the multipart envelope around the file.
ENVELOPE_BYTES = 64 * 1024


def upload_limit(setting: str):
    """Decorate a view: its requests may carry a file of up to ``app.config[setting]`` bytes."""

    def decorator(view):
        view.upload_limit = setting
        return view

    return decorator


def apply_upload_limit() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    setting = getattr(view, "upload_limit", None)
    if setting:
        request.max_content_length = int(current_app.config[setting]) + ENVELOPE_BYTES


def init_app(app: Flask) -> None:
    """Register the hook; call before extensions whose hooks read the body (CSRFProtect)."""
    app.before_request(apply_upload_limit)
