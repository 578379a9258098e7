"""Managers upload models and schedules through the API with a manager token; cameras cannot."""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import table_dump
from tests.webapp.test_api import auth
from twin.generate import generate_building


@pytest.fixture
def tokens(app, runner, tmp_path):
    """Project A with a model; a manager and a camera token on A, a manager token on B."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=1)
    for name in ("A", "B"):
        assert runner.invoke(args=["ingest", str(path), "--project", name]).exit_code == 0

    def token(project, role):
        result = runner.invoke(args=["token", "create", "--project", project, "--name", f"{role}-{project}",
                                     "--role", role, "--json"])
        return json.loads(result.stdout)["token"]

    return {"manager": token("A", "manager"), "camera": token("A", "camera"), "other": token("B", "manager"),
            "ifc": path}


def upload(client, token, route, data, name, **fields):
    return client.post(f"/api/v1/{route}", headers=auth(token), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name), **fields})


def test_a_manager_token_uploads_the_next_revision_and_a_schedule(app, tokens, tmp_path):
    client = app.test_client()
    same = upload(client, tokens["manager"], "models", tokens["ifc"].read_bytes(), "b.ifc")
    assert same.status_code == 200 and same.get_json()["unchanged"]  # already revision 1
    other = tmp_path / "c.ifc"
    generate_building(other, storeys=1, bays=(1, 2), seed=1)
    response = upload(client, tokens["manager"], "models", other.read_bytes(), "c.ifc")
    assert response.status_code == 201 and response.get_json()["revision"] == 2
    schedule = upload(client, tokens["manager"], "schedules", other.read_bytes(), "c.ifc")
    assert schedule.status_code == 201 and schedule.get_json()["tasks"] > 0
    assert upload(client, tokens["manager"], "schedules", other.read_bytes(), "c.ifc").status_code == 200


def test_a_camera_token_or_another_projects_token_cannot_change_a_projects_model(app, db_session, tokens):
    client = app.test_client()
    before = table_dump(db_session)
    data = tokens["ifc"].read_bytes()
    camera = upload(client, tokens["camera"], "models", data, "b.ifc")
    assert camera.status_code == 403 and "manager token" in camera.get_json()["error"]
    assert upload(client, tokens["camera"], "schedules", data, "b.ifc").status_code == 403
    assert client.post("/api/v1/models").status_code == 401
    # B's manager token only ever reaches project B
    assert upload(client, tokens["other"], "models", data, "b.ifc").get_json()["project"] == "B"
    db_session.expire_all()
    after = table_dump(db_session)
    assert {k: v for k, v in after.items() if k != "api_tokens"} == {k: v for k, v in before.items()
                                                                      if k != "api_tokens"}


def test_a_corrupt_model_or_an_unsound_schedule_is_refused_naming_the_problem(app, db_session, tokens):
    client = app.test_client()
    before = table_dump(db_session)
    corrupt = upload(client, tokens["manager"], "models", b"ISO-10303-21;\nHEADER;\nbroken", "site.ifc")
    assert corrupt.status_code == 400 and "site.ifc" in corrupt.get_json()["error"]
    csv = b"id,name,start,finish,elements\nT1,Walls,2027-01-04,2027-01-01,0000000000000000000000\n"
    schedule = upload(client, tokens["manager"], "schedules", csv, "plan.csv")
    body = schedule.get_json()
    assert schedule.status_code == 400 and body["problems"] and "plan.csv" in body["error"]
    db_session.expire_all()
    assert {k: v for k, v in table_dump(db_session).items() if k != "api_tokens"} == {
        k: v for k, v in before.items() if k != "api_tokens"}
