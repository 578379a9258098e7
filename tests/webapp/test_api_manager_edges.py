"""Model and schedule uploads at their edges: their own size limit, files that crash readers, a
format named in the request."""

from __future__ import annotations

import io
import json
import re

from tests.conftest import table_dump
from tests.webapp.test_api_manager import tokens, upload  # noqa: F401  (tokens is a fixture)
from twin.ifc import open_model
from twin.schedule.ifc4d import read_ifc_schedule
from twin.schedule.mspdi import write_mspdi


def data_tables(session) -> dict:
    tables = table_dump(session)
    tables.pop("api_tokens")  # each request stamps its token's last use
    return tables


def test_a_model_larger_than_a_frame_is_accepted_up_to_its_own_limit(app, tokens):  # noqa: F811
    client = app.test_client()
    app.config["MAX_CONTENT_LENGTH"] = 1000  # the frame limit does not apply to models
    response = upload(client, tokens["manager"], "models", tokens["ifc"].read_bytes(), "b.ifc")
    assert response.status_code == 200, response.get_json()
    app.config["SITETWIN_MAX_MODEL_BYTES"] = 1000
    response = upload(client, tokens["manager"], "models", b"x" * 200_000, "b.ifc")
    assert response.status_code == 413 and "bytes" in response.get_json()["error"]


def test_a_model_with_a_duplicate_global_id_is_400_and_changes_nothing(app, db_session, tokens):  # noqa: F811
    text = tokens["ifc"].read_text()
    first, second = re.findall(r"IFCWALL\('([^']{22})'", text)[:2]
    before = data_tables(db_session)
    response = upload(app.test_client(), tokens["manager"], "models", text.replace(second, first).encode(),
                      "dup.ifc")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].startswith("dup.ifc") and app.config["SITETWIN_DATA_DIR"] not in \
        response.get_json()["error"]
    assert data_tables(db_session) == before


def test_a_truncated_ifc_schedule_is_400_naming_the_file(app, db_session, tokens):  # noqa: F811
    before = data_tables(db_session)
    data = tokens["ifc"].read_bytes()[:-2000]
    response = upload(app.test_client(), tokens["manager"], "schedules", data, "plan.ifc")
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert "plan.ifc" in error and "truncated" in error and app.config["SITETWIN_DATA_DIR"] not in error
    assert data_tables(db_session) == before


def test_the_format_field_names_a_schedule_whose_file_name_does_not(app, tokens, tmp_path):  # noqa: F811
    client = app.test_client()
    xml = write_mspdi(read_ifc_schedule(open_model(tokens["ifc"])), tmp_path / "p.xml").read_bytes()
    response = client.post("/api/v1/schedules", headers={"Authorization": f"Bearer {tokens['manager']}"},
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(xml), "export.dat"), "format": "mspdi"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["format"] == "mspdi"
    refused = upload(client, tokens["manager"], "schedules", xml, "export.dat", format="gantt")
    assert refused.status_code == 400 and "gantt" in json.dumps(refused.get_json())
