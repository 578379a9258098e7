"""Fixtures of the web tests."""

import json

import pytest

from twin.generate import generate_building


@pytest.fixture
def api(app, runner, tmp_path):
    """Two projects, a device token for each; returns (client, token of A, token of B)."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=1)
    tokens = []
    for name in ("A", "B"):
        assert runner.invoke(args=["ingest", str(path), "--project", name]).exit_code == 0
        result = runner.invoke(args=["token", "create", "--project", name, "--name", "cam", "--json"])
        tokens.append(json.loads(result.stdout)["token"])
    return app.test_client(), *tokens
