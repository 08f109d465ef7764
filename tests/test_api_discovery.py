"""Discovery and health endpoints."""
from __future__ import annotations

from cds_service.protocol.services import REQUIRED_KEYS


def test_discovery_lists_both_services(client):
    services = client.get("/cds-services").get_json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("ketamine-esketamine-order-select", "order-select"),
        ("ketamine-esketamine-order-sign", "order-sign"),
    }
    for service in services:
        assert service["title"] and service["description"]
        assert service["version"] == "2.0.1"
        assert set(REQUIRED_KEYS) <= set(service["prefetch"])
        assert {"patient", "conditions", "allergies", "bloodPressure", "weight"} <= set(service["prefetch"])


def test_usage_requirements_state_the_policy_in_use(client, app):
    policy = app.extensions["trd_cds"].policy
    for service in client.get("/cds-services").get_json()["services"]:
        assert policy.version in service["usageRequirements"]


def test_configured_scale_codes_join_the_depression_score_template():
    from cds_service import create_app

    app = create_app({"auth": "off", "scale_codes": "http://loinc.org|99999-9=MADRS,http://site|HAMD=HAM-D"})
    services = app.test_client().get("/cds-services").get_json()["services"]
    template = services[0]["prefetch"]["depressionScores"]
    # a plain system|code token, as EHRs and FHIR servers match it (decision-rules §2.9 v2)
    assert ",http://loinc.org|99999-9,http://site|HAMD&_sort=-date" in template and "=" not in template.split("code=")[1].split("&")[0]


def test_surveys_key_is_on_by_default_and_a_setting_turns_it_off():
    from cds_service import create_app

    on = create_app({"auth": "off"}).test_client().get("/cds-services").get_json()["services"][0]["prefetch"]
    assert on["surveys"] == "Observation?patient={{context.patientId}}&category=survey&_sort=-date&_count=100"
    off = create_app({"auth": "off", "surveys": "off"}).test_client().get("/cds-services").get_json()
    assert "surveys" not in off["services"][0]["prefetch"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_readiness_fails_when_the_store_is_unreachable(client, app):
    app.extensions["trd_cds"].store.ping = lambda: False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["issue"][0]["expression"] == ["store"]
