"""GET /metrics in one process (default registry): scraped after real calls, parsed with prometheus_client.

Counters are process-wide, so each test compares a scrape before and after its own calls.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter

import pytest
import requests
import responses
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

import fixtures
from cds_service import create_app
from cds_service.config import ConfigError, Settings, package_version
from cds_service.fhir.patient_data import gather
from cds_service.ops import metrics
from cds_service.protocol.services import REQUIRED_KEYS, prefetch_templates
from tests.signed_ehr import SignedEhr

SERVICE = "ketamine-esketamine-order-sign"
URL = f"/cds-services/{SERVICE}"
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
BASE = "http://127.0.0.1:8080"


def scrape(client, **headers) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def grew(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_hook_calls_cards_fhir_reads_and_feedback_are_counted(client):
    before = scrape(client)
    ok = client.post(URL, json=REQUEST)
    no_data = {key: value for key, value in REQUEST.items() if key != "prefetch"}  # and no fhirServer
    assert client.post(URL, json=no_data).status_code == 412
    assert client.post(URL, data="{", content_type="application/json").status_code == 400
    assert client.post(URL, data="x", content_type="text/plain").status_code == 415
    assert client.post("/cds-services/patient-1234", json=REQUEST).status_code == 404
    cards = ok.get_json()["cards"]
    known = {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    unknown = {**known, "card": "0b0a2d3e-5f0c-4c1c-9d5f-1c2b3a4d5e6f"}
    assert client.post(f"{URL}/feedback", json={"feedback": [known, unknown]}).get_json()["stored"] == 2
    assert client.post(f"{URL}/feedback", json={"feedback": [known]}).get_json()["duplicates"] == 1
    after = scrape(client)

    calls = "trd_cds_hook_calls_total"
    for outcome in ("ok", "412", "400", "415"):
        assert grew(before, after, calls, service=SERVICE, outcome=outcome) == 1, outcome
    assert grew(before, after, calls, service="unknown", outcome="404") == 1  # never the id sent
    assert grew(before, after, "trd_cds_hook_call_seconds_count", service=SERVICE) == 4
    shown = Counter((card["source"]["topic"]["code"], card["indicator"]) for card in cards)
    for (topic, indicator), number in shown.items():
        assert grew(before, after, "trd_cds_cards_total", service=SERVICE, topic=topic, indicator=indicator) == number
    for key in REQUEST["prefetch"]:
        assert grew(before, after, "trd_cds_fhir_reads_total", key=key, result="prefetched") == 1, key
    for key in REQUIRED_KEYS:
        assert grew(before, after, "trd_cds_fhir_reads_total", key=key, result="failed") == 1, key
    items = "trd_cds_feedback_items_total"
    assert grew(before, after, items, service=SERVICE, result="stored") == 1
    assert grew(before, after, items, service=SERVICE, result="stored_unknown_card") == 1
    assert grew(before, after, items, service=SERVICE, result="duplicate") == 1
    assert grew(before, after, "trd_cds_feedback_calls_total", service=SERVICE, outcome="ok") == 2
    policy = client.application.extensions["trd_cds"].policy.version
    assert after[("trd_cds_build_info", (("policy_version", policy), ("version", package_version())))] == 1


def test_no_patient_user_or_call_identifier_in_any_label(client):
    assert client.post(URL, json=REQUEST).status_code == 200
    scraped = client.get("/metrics").get_data(as_text=True)
    context = REQUEST["context"]
    for identifier in (context["patientId"], context["userId"], REQUEST["hookInstance"], "patient-1234"):
        assert identifier not in scraped


def test_jwt_refusals_are_counted_by_failed_check(tmp_path):
    ehr = SignedEhr(tmp_path)
    (tmp_path / "metrics-token").write_text("scrape-me\n")
    app = create_app({"auth": "on", "issuers_file": str(ehr.issuers_file), "public_base_url": BASE,
                      "metrics_token_file": str(tmp_path / "metrics-token")})
    client = app.test_client()
    token = {"Authorization": "Bearer scrape-me"}
    before = scrape(client, **token)
    assert client.post(URL, json=REQUEST).status_code == 401
    assert client.post(URL, json=REQUEST, headers=ehr.headers(f"{BASE}/cds-services")).status_code == 401
    assert client.post(URL, json=REQUEST, headers=ehr.headers(BASE + URL)).status_code == 200
    after = scrape(client, **token)
    assert grew(before, after, "trd_cds_jwt_refusals_total", check="Authorization") == 1
    assert grew(before, after, "trd_cds_jwt_refusals_total", check="jwt.aud") == 1
    assert grew(before, after, "trd_cds_hook_calls_total", service=SERVICE, outcome="401") == 2


@pytest.mark.parametrize("config,headers,status", [
    ({"auth": "on"}, {}, 404),  # neither setting: off the public port
    ({"auth": "on", "metrics_bind": "127.0.0.1:9464"}, {}, 404),  # served by trd-cds serve's master there
    ({"auth": "off", "metrics_bind": "127.0.0.1:9464"}, {}, 404),
    ({"auth": "on", "metrics_token_file": "TOKEN"}, {}, 401),
    ({"auth": "on", "metrics_token_file": "TOKEN"}, {"Authorization": "Bearer wrong"}, 401),
    ({"auth": "on", "metrics_token_file": "TOKEN"}, {"Authorization": "Bearer s3cret"}, 200),
    ({"auth": "off"}, {}, 200),  # development
], ids=["auth-on", "bind", "bind-auth-off", "token-missing", "token-wrong", "token", "auth-off"])
def test_metrics_are_off_the_public_port_or_protected(tmp_path, config, headers, status):
    ehr = SignedEhr(tmp_path)
    (tmp_path / "token").write_text("s3cret")
    if config.get("metrics_token_file"):
        config = {**config, "metrics_token_file": str(tmp_path / "token")}
    app = create_app({**config, "issuers_file": str(ehr.issuers_file)})
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    if status != 200:
        assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("content,message", [("\n", "is empty"), (None, "No such file")])
def test_an_empty_or_missing_metrics_token_file_stops_the_start(tmp_path, content, message):
    if content is not None:
        (tmp_path / "token").write_text(content)
    with pytest.raises(ConfigError, match=f"METRICS_TOKEN_FILE .*{message}"):
        create_app({"auth": "off", "metrics_token_file": str(tmp_path / "token")})


def test_store_errors_and_5xx_are_counted_on_a_real_database_fault(tmp_path):
    url = f"sqlite:///{tmp_path}/trd-cds.db"
    app = create_app({"auth": "off", "database_url": url})
    client = app.test_client()
    before = scrape(client)
    with app.extensions["trd_cds"].store.engine.begin() as connection:
        connection.execute(text("DROP TABLE feedback"))  # the next write fails inside the database
    item = {"card": "0b0a2d3e-5f0c-4c1c-9d5f-1c2b3a4d5e6f", "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    assert client.post(f"{URL}/feedback", json={"feedback": [item]}).status_code >= 500
    after = scrape(client)
    assert grew(before, after, "trd_cds_store_errors_total", operation="record_feedback") == 1
    assert grew(before, after, "trd_cds_feedback_calls_total", service=SERVICE, outcome="5xx") == 1


def test_fhir_reads_timed_out_and_read_in_part_with_their_latency():
    fhir = "https://ehr.example.org/fhir"
    templates = prefetch_templates()
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [],
              "link": [{"relation": "next", "url": f"{fhir}/Condition?page=2"}]}
    prefetch = {key: {"resourceType": "Bundle", "type": "searchset", "entry": []} for key in templates}
    prefetch.update(patient=None, encounter=None, conditions=bundle)  # more pages, no token to read them
    del prefetch["allergies"]  # to be fetched: the server is too slow

    def sample(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (sample("trd_cds_fhir_reads_total", key="allergies", result="timed_out"),
              sample("trd_cds_fhir_reads_total", key="conditions", result="partial"),
              sample("trd_cds_fhir_read_seconds_count", key="allergies"))

    def slow(_request):
        time.sleep(1.0)
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset"})

    settings = Settings(fhir_deadline_s=0.2)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(f"{fhir}/.*"), callback=slow)
        payload = {"hookInstance": "x", "context": {"patientId": "p1"}, "prefetch": prefetch, "fhirServer": fhir}
        gathered = gather(payload, templates, REQUIRED_KEYS, settings, requests.Session())
    assert "allergies" in gathered.unavailable
    after = (sample("trd_cds_fhir_reads_total", key="allergies", result="timed_out"),
             sample("trd_cds_fhir_reads_total", key="conditions", result="partial"),
             sample("trd_cds_fhir_read_seconds_count", key="allergies"))
    assert [b - a for a, b in zip(before, after)] == [1, 1, 1]
    assert sample("trd_cds_fhir_read_seconds_sum", key="allergies") > 0


def test_outcome_labels_are_a_fixed_set():
    assert [metrics.outcome(status) for status in (200, 204, 400, 401, 412, 413, 500, 503)] == [
        "ok", "ok", "400", "401", "412", "413", "5xx", "5xx"]


def test_serve_empties_the_operators_metrics_dir_or_makes_a_private_one(tmp_path, monkeypatch):
    from cds_service import cli

    given = tmp_path / "multiproc"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old run")
    (given / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    assert cli._metrics_dir() == (str(given), False)
    assert [path.name for path in given.iterdir()] == ["notes.txt"]

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    folder, private = cli._metrics_dir()
    try:
        assert private and os.environ["PROMETHEUS_MULTIPROC_DIR"] == folder and os.path.isdir(folder)
    finally:
        os.rmdir(folder)
