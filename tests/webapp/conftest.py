"""Fixtures of the web tests."""

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.fixture
def walk(runner, tmp_path):
    """Project 'p' (a generated one-storey building) and a simulated 3-frame walk of it, not processed."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(2, 2), seed=4)
    assert runner.invoke(args=["ingest", str(path), "--project", "p"]).exit_code == 0
    out = tmp_path / "walk"
    result = runner.invoke(args=["simulate-capture", "--project", "p", "--date", "2027-01-20", "--frames", "3",
                                 "--width", "512", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def smtp_server(app, handler, port: int | None = None):
    """A real SMTP server (aiosmtpd) with ``handler`` on 127.0.0.1, the app pointed at it."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    try:
        yield handler
    finally:
        controller.stop()


def process_with_celery_workers(client, headers, capture: int, env: dict, data_dirs: list[Path],
                                logs: Path) -> tuple[dict, str]:
    """Finalise ``capture`` through the API with two real Celery worker processes running
    (``sitetwin worker``, environment ``env``, worker k on ``data_dirs[k]``), poll it to a final
    state (5 minutes at most), stop the workers; returns (its status, the workers' logs)."""
    outputs = [(logs / f"worker-{k}.log").open("w") for k in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "webapp", "worker", "--name", f"w{k}@%h"],
                                env={**env, "SITETWIN_DATA_DIR": str(data_dirs[k])}, stdout=out,
                                stderr=subprocess.STDOUT) for k, out in enumerate(outputs)]
    try:
        assert client.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 202
        deadline, status = time.time() + 300, {}
        while time.time() < deadline:
            status = client.get(f"/api/v1/captures/{capture}", headers=headers).get_json()
            if status["state"] in ("processed", "failed"):
                break
            time.sleep(1)
    finally:
        for worker, out in zip(workers, outputs, strict=True):
            worker.terminate()
            worker.wait(timeout=60)
            out.close()
    return status, "".join((logs / f"worker-{k}.log").read_text() for k in range(2))
