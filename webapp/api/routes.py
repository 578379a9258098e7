"""Upload API views: parse the request, call the upload service, return JSON."""

from __future__ import annotations

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.api import bp
from webapp.api.auth import error, token_required
from webapp.api.openapi import openapi_document
from webapp.extensions import db
from webapp.limits import upload_limit
from webapp.models import Project
from webapp.services import project_files, uploads
from webapp.services.messages import public_message
from webapp.services.twins import NotFound


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc):
    return error(413, f"request larger than {request.max_content_length} bytes")


@bp.errorhandler(uploads.UploadError)
def upload_error(exc: uploads.UploadError):
    message = public_message(str(exc), [current_app.config["SITETWIN_DATA_DIR"]])
    return error(exc.status, message, **exc.extra)


def _file(what: str):
    """The request's multipart field ``file``; a 400 naming ``what`` to send when it is missing."""
    upload = request.files.get("file")
    if upload is None:
        raise uploads.UploadError(400, f"send {what} as multipart/form-data in a field named 'file'")
    return upload


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.post("/captures")
@token_required
@upload_limit("SITETWIN_MAX_MANIFEST_BYTES")
def create_capture():
    manifest = request.get_json(silent=True)
    if not isinstance(manifest, dict):
        return error(400, "the body must be a capture manifest (JSON object), see docs/capture-format.md")
    capture, created = uploads.create_capture(db.session, current_app.config, g.project_id, manifest)
    body = uploads.capture_status(current_app.config, capture)
    return jsonify(body), 201 if created else 200


@bp.get("/captures/<int:capture_id>")
@token_required
def get_capture(capture_id: int):
    capture = uploads.project_capture(db.session, g.project_id, capture_id)
    return jsonify(uploads.capture_status(current_app.config, capture))


@bp.put("/captures/<int:capture_id>/frames/<int:index>")
@token_required
def put_frame(capture_id: int, index: int):
    capture = uploads.project_capture(db.session, g.project_id, capture_id)
    upload = _file("the frame")
    stored, duplicate = uploads.store_frame(current_app.config, capture, index, upload.stream)
    return jsonify({"index": index, "sha256": stored, "duplicate": duplicate}), 200 if duplicate else 201


@bp.post("/captures/<int:capture_id>/finalise")
@token_required
def finalise(capture_id: int):
    capture = uploads.project_capture(db.session, g.project_id, capture_id)
    uploads.finalise(db.session, current_app.config, capture)
    return jsonify(uploads.capture_status(current_app.config, capture)), 202


@bp.put("/captures/<int:capture_id>/video")
@token_required
@upload_limit("SITETWIN_MAX_VIDEO_BYTES")
def put_video(capture_id: int):
    capture = uploads.project_capture(db.session, g.project_id, capture_id)
    upload = _file("the video")
    sha256, duplicate, probe = uploads.store_video(current_app.config, capture, upload.stream)
    return jsonify({"sha256": sha256, "duplicate": duplicate, **probe}), 200 if duplicate else 201


def _project():
    return db.session.get(Project, g.project_id)


@bp.post("/models")
@token_required(role="manager")
@upload_limit("SITETWIN_MAX_MODEL_BYTES")
def post_model():
    upload = _file("the IFC file")
    try:
        result = project_files.upload_model(db.session, current_app.config, _project(), upload)
    except project_files.ProjectFileError as refused:
        return error(400, str(refused))
    return jsonify(result.as_dict()), 200 if result.unchanged else 201


@bp.post("/schedules")
@token_required(role="manager")
@upload_limit("SITETWIN_MAX_MODEL_BYTES")
def post_schedule():
    upload = _file("the schedule")
    lenient = request.form.get("lenient", "false").lower() in {"1", "true", "yes"}
    try:
        result = project_files.upload_schedule(db.session, current_app.config, _project(), upload, lenient,
                                               request.form.get("format") or None)
    except project_files.ProjectFileError as refused:
        return error(400, str(refused), problems=refused.problems)
    except NotFound as missing:
        return error(409, str(missing))
    return jsonify(result.as_dict()), 200 if result.unchanged else 201
