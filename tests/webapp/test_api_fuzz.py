"""Schemathesis against the upload API's own OpenAPI document: no request it generates gets a 5xx."""

import json
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from twin.generate import generate_building

pytestmark = pytest.mark.slow


def test_no_generated_request_gets_a_server_error(app, runner, tmp_path):
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=1)
    runner.invoke(args=["ingest", str(path), "--project", "A"])
    token = json.loads(runner.invoke(args=["token", "create", "--project", "A", "--name", "cam", "--json"]).stdout)
    app.config["SITETWIN_JOBS"] = "worker"  # finalise only queues; the detector is not what is fuzzed here
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    headers = {"Authorization": f"Bearer {token['token']}"}
    seen = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.data())
    def fuzz(data):
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        response = case.call(headers={**(case.headers or {}), **headers})
        seen.append((case.method, response.status_code))
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                            response.text[:500])

    fuzz()
    assert {method for method, _ in seen} == {"GET", "POST", "PUT"}
    # Authenticated cases get past the token check: the generator reaches the views, not only 401s.
    assert any(status in (200, 201, 202) for _, status in seen) and any(status == 400 for _, status in seen)


def test_stateful_sequences_along_the_openapi_links_get_no_server_error(app, runner, tmp_path):
    """create capture → upload a missing frame → finalise → status, as the document's links chain them:
    Schemathesis feeds each response's id (and first missing index) into the next call."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=1)
    runner.invoke(args=["ingest", str(path), "--project", "A"])
    result = runner.invoke(args=["token", "create", "--project", "A", "--name", "cam", "--json"])
    token = json.loads(result.stdout)
    app.config["SITETWIN_JOBS"] = "worker"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    auth = {"Authorization": f"Bearer {token['token']}"}
    calls: list[tuple[str, int, int | None]] = []
    created: set[int] = set()

    def reset() -> None:
        """Each scenario starts from no capture: Hypothesis sees the same answers to the same calls."""
        from webapp.extensions import db
        from webapp.models import Capture, Frame

        with app.app_context():
            db.session.execute(delete(Frame))
            db.session.execute(delete(Capture))
            db.session.commit()
        shutil.rmtree(Path(app.config["SITETWIN_DATA_DIR"]) / "uploads", ignore_errors=True)

    class Workflow(schema.as_state_machine()):
        def setup(self):
            reset()

        def before_call(self, case):
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            case.headers = {**headers, **auth}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            capture = (case.path_parameters or {}).get("capture_id")
            calls.append((case.operation.label, response.status_code, capture))
            if case.operation.label == "POST /captures" and response.status_code in (200, 201):
                created.add(response.json()["id"])
            assert response.status_code < 500, (case.operation.label, case.formatted_path,
                                                response.status_code, response.text[:500])

    Workflow.run(settings=settings(max_examples=50, stateful_step_count=6, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))
    # The links carried real ids: calls on a capture this run created, not only random ids' 404s.
    linked = {label for label, status, capture in calls if capture in created and status != 404}
    assert {"GET /captures/{capture_id}", "POST /captures/{capture_id}/finalise"} <= linked, linked
    # Every step of a camera's walk is reachable by a link: status → its first missing frame → finalise.
    paths = schema.raw_schema["paths"]
    status_links = paths["/captures"]["post"]["responses"]["201"]["links"]
    assert status_links["PutMissingFrame"]["parameters"] == {"capture_id": "$response.body#/id",
                                                             "index": "$response.body#/missing/0"}
    frame_links = paths["/captures/{capture_id}/frames/{index}"]["put"]["responses"]["201"]["links"]
    assert frame_links["Finalise"]["operationId"] == "finaliseCapture"
    assert schema.statistic.transitions.total == 24
