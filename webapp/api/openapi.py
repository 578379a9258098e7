"""The OpenAPI 3 description of the upload API (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

import json
from functools import cache

from vision.capture import SCHEMA_PATH
from vision.video import VIDEO_SCHEMA_PATH

_ERROR = {"description": "Refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@cache
def openapi_document() -> dict:
    manifest = json.loads(SCHEMA_PATH.read_text())
    defs = manifest.pop("$defs")  # pose, start, gravity: components Pose, Start, Gravity
    names = {name: name.capitalize() for name in defs}

    def as_components(document: dict) -> dict:
        text = json.dumps(document)
        for name, component in names.items():
            text = text.replace(f'capture-1.json#/$defs/{name}"', f'#/components/schemas/{component}"')
            text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/{component}"')
        return json.loads(text)

    manifest = as_components(manifest)
    for key in ("$schema", "$id"):
        manifest.pop(key, None)
    status = {"type": "object", "required": ["id", "capture_id", "state", "frames_expected", "frames_received"],
              "properties": {"id": {"type": "integer"}, "capture_id": {"type": "string"},
                             "state": {"type": "string", "enum": ["uploading", "queued", "processing", "processed",
                                                                  "failed"]},
                             "progress": {"type": "number"}, "frames_expected": {"type": "integer"},
                             "frames_received": {"type": "integer"},
                             "missing": {"type": "array", "items": {"type": "integer"}},
                             "error": {"type": ["string", "null"]}, "stats": {"type": "object"}}}
    video = json.loads(VIDEO_SCHEMA_PATH.read_text())
    for key in ("$schema", "$id"):
        video.pop(key, None)
    video = as_components(video)
    status["properties"]["video"] = {"type": "object", "properties": {
        "received": {"type": "boolean"}, "sha256": {"type": "string"}, "width": {"type": "integer"},
        "height": {"type": "integer"}, "fps": {"type": "number"}, "duration_s": {"type": "number"}}}
    capture_id = {"name": "capture_id", "in": "path", "required": True,
                  "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
    refusals = {code: _ERROR for code in ("400", "401", "403", "404", "409", "413", "415")}
    # OpenAPI links: what a camera does next with a capture's status (and Schemathesis's stateful sequences).
    from_status = {
        "GetCapture": {"operationId": "getCapture", "parameters": {"capture_id": "$response.body#/id"}},
        "PutMissingFrame": {"operationId": "putFrame", "parameters": {"capture_id": "$response.body#/id",
                                                                      "index": "$response.body#/missing/0"}},
        "PutVideo": {"operationId": "putVideo", "parameters": {"capture_id": "$response.body#/id"}},
        "Finalise": {"operationId": "finaliseCapture", "parameters": {"capture_id": "$response.body#/id"}},
    }
    from_upload = {
        "GetCapture": {"operationId": "getCapture", "parameters": {"capture_id": "$request.path.capture_id"}},
        "Finalise": {"operationId": "finaliseCapture",
                     "parameters": {"capture_id": "$request.path.capture_id"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "SiteTwin upload API", "version": "1",
                 "description": "Cameras upload 360° walks: create a capture from its manifest (docs/capture-format.md), "
                                "PUT each frame (idempotent: a retry with the same bytes changes nothing) or, for a "
                                "video manifest, PUT the MP4, then finalise to queue processing. Authenticate with "
                                "a project's API token."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/captures": {"post": {
                "operationId": "createCapture",
                "summary": "Create a capture from its manifest (or get it back on retry)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"oneOf": [{"$ref": "#/components/schemas/Manifest"},
                                         {"$ref": "#/components/schemas/VideoManifest"}]}}}},
                "responses": {"201": {"description": "Created", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CaptureStatus"}}}, "links": from_status},
                              "200": {"description": "Already there (a retry)", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/CaptureStatus"}}},
                              "links": from_status},
                              **refusals}}},
            "/captures/{capture_id}": {"get": {
                "operationId": "getCapture",
                "summary": "Capture status and processing progress", "parameters": [capture_id],
                "responses": {"200": {"description": "Status", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CaptureStatus"}}}, "links": from_status},
                              **refusals}}},
            "/captures/{capture_id}/frames/{index}": {"put": {
                "operationId": "putFrame",
                "summary": "Upload frame `index` of the manifest (JPEG or PNG, 2:1)",
                "parameters": [capture_id, {"name": "index", "in": "path", "required": True,
                                            "schema": {"type": "integer", "minimum": 0}}],
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "Stored", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/FrameStored"}}}, "links": from_upload},
                              "200": {"description": "Already stored (a retry)", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/FrameStored"}}},
                              "links": from_upload},
                              **refusals}}},
            "/captures/{capture_id}/video": {"put": {
                "operationId": "putVideo",
                "summary": "Upload the 360° MP4 of a capture created from a video manifest (2:1; frames are "
                           "taken from it at the manifest's interval when it is processed)",
                "parameters": [capture_id],
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "Stored", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/VideoStored"}}}, "links": from_upload},
                              "200": {"description": "Already stored (a retry)", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/VideoStored"}}},
                              "links": from_upload},
                              **refusals}}},
            "/models": {"post": {
                "operationId": "uploadModel",
                "summary": "Upload the project's IFC model: its next revision (manager token; the same file again "
                           "changes nothing)",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "Ingested", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Revision"}}}},
                              "200": {"description": "Already ingested", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/Revision"}}}}, **refusals}}},
            "/schedules": {"post": {
                "operationId": "uploadSchedule",
                "summary": "Upload the project's schedule (IFC 4D, MS Project XML, Primavera XER or CSV, by file "
                           "suffix): its next version (manager token)",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"},
                                   "lenient": {"type": "string", "enum": ["true", "false"]},
                                   "format": {"type": "string", "enum": ["ifc", "mspdi", "xer", "csv"],
                                              "description": "Overrides the file name's suffix"}}}}}},
                "responses": {"201": {"description": "Imported", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ScheduleVersion"}}}},
                              "200": {"description": "Already imported", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/ScheduleVersion"}}}}, **refusals}}},
            "/captures/{capture_id}/finalise": {"post": {
                "operationId": "finaliseCapture",
                "summary": "All frames are in: queue processing", "parameters": [capture_id],
                "description": "Again on a capture queued, processed or processing under a live worker: "
                               "nothing changes. On one whose worker died (lease expired): queued again.",
                "responses": {"202": {"description": "Queued", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CaptureStatus"}}}, "links": from_status},
                              **refusals}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Manifest": manifest, "VideoManifest": video, "CaptureStatus": status,
                **{names[name]: schema for name, schema in as_components(defs).items()},
                "VideoStored": {"type": "object", "required": ["sha256", "duplicate"],
                                "properties": {"sha256": {"type": "string"}, "duplicate": {"type": "boolean"},
                                               "width": {"type": "integer"}, "height": {"type": "integer"},
                                               "fps": {"type": "number"}, "duration_s": {"type": "number"}}},
                "FrameStored": {"type": "object", "required": ["index", "sha256", "duplicate"],
                                "properties": {"index": {"type": "integer"}, "sha256": {"type": "string"},
                                               "duplicate": {"type": "boolean"}}},
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}}},
                "Revision": {"type": "object", "required": ["project", "revision", "elements"], "properties": {
                    "project": {"type": "string"}, "revision": {"type": "integer"}, "schema": {"type": "string"},
                    "elements": {"type": "integer"}, "with_geometry": {"type": "integer"},
                    "storeys": {"type": "integer"}, "unchanged": {"type": "boolean"}, "diff": {"type": "object"}}},
                "ScheduleVersion": {"type": "object", "required": ["project", "version", "tasks"], "properties": {
                    "project": {"type": "string"}, "version": {"type": "integer"}, "format": {"type": "string"},
                    "tasks": {"type": "integer"}, "linked_elements": {"type": "integer"},
                    "unchanged": {"type": "boolean"}}},
            },
        },
    }
