"""docker-compose.yml is right for a site that runs it: every service, health checks, migrations
before the app starts, the data volume, the shared bucket (MinIO), SECRET_KEY and the storage
secrets demanded. (No Docker engine runs here;
Debian's docker-compose validates the file when it is installed.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
APP_SERVICES = ("web", "worker", "scheduler")


def test_every_service_of_a_site_is_there_with_a_health_check():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "minio", "minio-setup", "migrate", *APP_SERVICES} <= set(services)
    for name in ("postgres", "redis", "minio", *APP_SERVICES):
        assert "test" in services[name].get("healthcheck", {}), f"{name} has no health check"


def test_the_app_waits_for_migrations_and_keeps_its_files_on_a_volume():
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["sitetwin", "db", "upgrade"]
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "data:/data" in services[name]["volumes"]
        assert services[name]["environment"]["SITETWIN_AUTO_MIGRATE"] == "0"
    assert {"pgdata", "data"} <= set(COMPOSE["volumes"])
    assert services["worker"]["command"] == ["sitetwin", "worker"]
    assert services["worker"]["environment"]["CELERY_BROKER_URL"].startswith("redis://")


def test_queued_captures_survive_a_redis_restart_and_the_services_are_not_root():
    redis = COMPOSE["services"]["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert "redisdata:/data" in redis["volumes"]
    assert "\nUSER sitetwin\n" in (REPO / "Dockerfile").read_text()


def test_every_service_shares_files_through_the_minio_bucket_with_its_own_key():
    services = COMPOSE["services"]
    setup = services["minio-setup"]
    assert setup["depends_on"]["minio"]["condition"] == "service_healthy"
    script = " ".join(setup["command"])
    assert "mc mb --ignore-existing" in script and "mc admin user add" in script
    assert "miniodata:/data" in services["minio"]["volumes"] and "miniodata" in COMPOSE["volumes"]
    for name in ("migrate", *APP_SERVICES):
        environment = services[name]["environment"]
        assert environment["SITETWIN_STORAGE_URL"].startswith("s3://")
        assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
        # The services' own key, not MinIO's root account; the secrets come from .env.
        assert environment["AWS_ACCESS_KEY_ID"] == setup["environment"]["S3_ACCESS_KEY"]
        assert environment["AWS_SECRET_ACCESS_KEY"].startswith("${S3_SECRET_KEY:?")
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"].startswith("${MINIO_ROOT_PASSWORD:?")
    example = (REPO / ".env.example").read_text()
    assert "MINIO_ROOT_PASSWORD=" in example and "S3_SECRET_KEY=" in example


def test_secret_key_is_demanded_not_defaulted():
    assert COMPOSE["services"]["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "SECRET_KEY=" in (REPO / ".env.example").read_text()


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="Debian's docker-compose is not installed")
def test_docker_compose_validates_the_file(tmp_path):
    # A copy beside the example env file (as a user's .env), so the checkout is never touched.
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    done = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # Each demanded secret missing in turn: refused before anything starts, naming it.
    secrets = {"SECRET_KEY": "k" * 40, "MINIO_ROOT_PASSWORD": "m" * 12, "S3_SECRET_KEY": "s" * 12}
    for missing in secrets:
        lines = [f"{name}={value}" for name, value in secrets.items() if name != missing]
        (tmp_path / ".env").write_text("POSTGRES_PASSWORD=x\n" + "\n".join(lines) + "\n")
        done = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True,
                              text=True)
        assert done.returncode != 0 and missing in done.stderr, (missing, done.stderr)
