"""docker-compose.yml and Dockerfile wiring (no Docker engine in CI: read them carefully instead)."""
from __future__ import annotations

from pathlib import Path

import yaml

from cds_service.config import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hapi_is_r4_with_the_settings_the_tests_rely_on():
    fhir = COMPOSE["services"]["fhir"]
    env = fhir["environment"]
    assert fhir["image"].startswith("hapiproject/hapi:v8")
    assert env["hapi.fhir.fhir_version"] == "R4"
    assert env["hapi.fhir.client_id_strategy"] == "ANY"  # trd-cds-* client ids
    assert env["hapi.fhir.reuse_cached_search_results_millis"] == "0"
    assert fhir["healthcheck"]["test"] == ["CMD", "java", "-cp", "/app", "HealthCheck"]


def test_service_waits_for_a_healthy_fhir_server_and_has_its_own_healthcheck():
    cds = COMPOSE["services"]["cds"]
    assert cds["depends_on"]["fhir"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(cds["healthcheck"]["test"])
    assert cds["build"] == "."


def test_ports_do_not_collide_and_match_the_bind_address():
    host_ports = [port.split(":")[1] for service in COMPOSE["services"].values() for port in service["ports"]]
    assert len(host_ports) == len(set(host_ports))
    cds = COMPOSE["services"]["cds"]
    container_port = cds["ports"][0].split(":")[-1]
    assert cds["environment"]["TRD_CDS_BIND"].endswith(":" + container_port)
    assert "EXPOSE " + container_port in DOCKERFILE


def test_every_service_variable_is_a_real_setting_with_a_valid_value():
    env = COMPOSE["services"]["cds"]["environment"]
    settings_env = {key: value for key, value in env.items() if key != "TRD_CDS_BIND"}
    known = {PREFIX + name.upper() for name in Settings.__dataclass_fields__}
    assert set(settings_env) <= known, set(settings_env) - known
    Settings.from_env(settings_env)  # raises ConfigError on a bad value


def test_dockerfile_serves_the_app_with_gunicorn_via_the_cli():
    assert 'CMD ["trd-cds", "serve"]' in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    for package in ("cds_service", "hooks", "fhir_mappings", "fixtures"):
        assert f"COPY {package} ./{package}" in DOCKERFILE
