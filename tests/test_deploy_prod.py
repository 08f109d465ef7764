"""docker-compose.prod.yml: production shape, checked by Debian's ``docker-compose config`` and by reading it.

No Docker engine in CI: ``docker-compose config`` validates and interpolates the file against the
compose schema without one. Without the binary the check is skipped, except in CI (``CI`` set).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cds_service.config import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.prod.yml"
ENV = {"TRD_CDS_DB_PASSWORD": "s3cret-for-the-test", "TRD_CDS_PUBLIC_BASE_URL": "https://cds.example.org"}


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as docker-compose resolves it (variables interpolated), else as YAML."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose not found (apt-get install docker-compose)")
        pytest.skip("docker-compose not found (apt-get install docker-compose)")
    done = subprocess.run([binary, "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, **ENV})
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def mounts(service: dict) -> dict[str, tuple[str, str]]:
    """``{target: (source, mode)}`` of docker-compose's resolved ``source:target:mode`` mounts."""
    return {target: (source, mode) for source, target, mode in (v.split(":") for v in service["volumes"])}


def test_config_refuses_to_run_without_the_secrets():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not found")
    env = {key: value for key, value in os.environ.items() if key not in ENV}
    done = subprocess.run([binary, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)
    assert done.returncode != 0 and "TRD_CDS_DB_PASSWORD" in done.stderr


def test_every_service_has_a_healthcheck_and_waits_for_a_healthy_dependency(compose):
    services = compose["services"]
    assert set(services) == {"db", "cds", "nginx"}
    for service in services.values():
        assert service["healthcheck"]["test"][0] == "CMD"
    assert services["cds"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["cds"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(services["cds"]["healthcheck"]["test"])


def test_postgresql_16_keeps_its_data_in_a_named_volume(compose):
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg-data" in compose["volumes"]
    assert mounts(db)["/var/lib/postgresql/data"][0] == "pg-data"
    assert "ports" not in db  # reachable from the service only


def test_service_runs_with_auth_on_postgresql_and_a_mounted_issuers_file(compose):
    cds = compose["services"]["cds"]
    env = cds["environment"]
    settings = Settings.from_env({key: value for key, value in env.items() if key != "TRD_CDS_BIND"})
    assert settings.auth == "on" and settings.preview == "off" and settings.cors_origins == ()
    assert settings.database_url == f"postgresql+psycopg://trdcds:{ENV['TRD_CDS_DB_PASSWORD']}@db:5432/trdcds"
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"] == ENV["TRD_CDS_DB_PASSWORD"]
    assert settings.public_base_url == ENV["TRD_CDS_PUBLIC_BASE_URL"]
    assert mounts(cds)["/config"] == (str(ROOT / "deploy" / "config"), "ro")
    assert settings.issuers_file.startswith("/config/")
    assert "ports" not in cds  # only nginx is published
    assert settings.metrics_bind.split(":")[-1] in cds["expose"]


def test_every_service_variable_is_a_real_setting(compose):
    env = compose["services"]["cds"]["environment"]
    known = {PREFIX + name.upper() for name in Settings.__dataclass_fields__} | {
        "TRD_CDS_BIND", "TRD_CDS_WORKERS", "TRD_CDS_THREADS", "TRD_CDS_WORKER_TIMEOUT"}  # trd-cds serve's
    assert set(env) <= known, set(env) - known


def test_nginx_is_the_only_published_service_and_terminates_tls(compose):
    nginx = compose["services"]["nginx"]
    assert sorted(port["target"] for port in nginx["ports"]) == [80, 443]
    assert mounts(nginx)["/etc/nginx/tls"] == (str(ROOT / "deploy" / "tls"), "ro")
    config = (ROOT / "deploy" / "nginx" / "trd-cds.conf").read_text()
    assert "ssl_certificate     /etc/nginx/tls/cds.crt;" in config
    dockerfile = (ROOT / nginx["build"]["context"] / "Dockerfile").read_text()
    assert "FROM debian:" in dockerfile and "nginx-light" in dockerfile
    assert "COPY trd-cds.conf /etc/nginx/conf.d/" in dockerfile


def test_no_development_settings(compose):
    text = COMPOSE_FILE.read_text()
    for development in ("--dev", "sqlite", 'TRD_CDS_AUTH: "off"', "TRD_CDS_PREVIEW", "CORS", "memory://"):
        assert development not in text
