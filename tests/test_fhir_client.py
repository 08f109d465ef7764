"""FhirClient: timeouts within the deadline, paging, retries and typed errors (HTTP mocked)."""
from __future__ import annotations

import logging
import time

import pytest
import requests
import responses
from responses import matchers

from cds_service.config import Settings
from cds_service.fhir_client import (Deadline, FhirClient, FhirError, FhirForbidden, FhirNotFound,
                                     FhirTimeout, FhirUnauthorized, FhirUnreachable, retry_after_seconds,
                                     shared_session)

BASE = "https://ehr.example.org/fhir"
TOKEN = "secret-token-123"
SETTINGS = Settings(fhir_deadline_s=2.0, fhir_max_pages=10, fhir_retries=2)


@pytest.fixture
def fhir():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def client(settings=SETTINGS, token=TOKEN, deadline=None) -> FhirClient:
    return FhirClient(BASE, token, settings, requests.Session(), deadline)


def page(ids, next_url=None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Condition", "id": i}, "search": {"mode": "match"}}
                        for i in ids]}
    if next_url:
        bundle["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next_url}]
    return bundle


def add_pages(fhir, count: int, loop_to: int | None = None) -> list[str]:
    """``count`` chained pages of Condition?patient=1; the last one links to page ``loop_to`` if given."""
    urls = [f"{BASE}/Condition?patient=1" + (f"&_offset={n}" if n else "") for n in range(count)]
    for n, url in enumerate(urls):
        nxt = urls[n + 1] if n + 1 < count else (urls[loop_to] if loop_to is not None else None)
        fhir.get(url, json=page([f"c{n}"], nxt), match=[matchers.query_string_matcher(url.split("?")[1])])
    return urls


def test_read_sends_the_bearer_token_and_fhir_json_accept(fhir):
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"},
             match=[matchers.header_matcher({"Authorization": f"Bearer {TOKEN}",
                                             "Accept": "application/fhir+json"})])
    assert client().read("Patient", "p1")["id"] == "p1"


def test_read_without_token_sends_no_authorization(fhir):
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    client(token=None).read("Patient", "p1")
    assert "Authorization" not in fhir.calls[0].request.headers


def test_search_follows_next_links_verbatim(fhir):
    add_pages(fhir, 4)
    result = client().search("Condition?patient=1")
    assert [r["id"] for r in result.resources] == ["c0", "c1", "c2", "c3"]
    assert (result.pages, result.truncated) == (4, None)
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in fhir.calls)


def test_search_stops_at_the_page_cap_and_says_so(fhir):
    add_pages(fhir, 3)
    fhir.assert_all_requests_are_fired = False
    result = client(SETTINGS.replace(fhir_max_pages=2)).search("Condition?patient=1")
    assert result.pages == 2 and len(fhir.calls) == 2
    assert "2 pages" in result.truncated


def test_endless_next_loop_stops(fhir):
    add_pages(fhir, 3, loop_to=1)
    result = client().search("Condition?patient=1")
    assert len(fhir.calls) == 3 and result.pages == 3
    assert "repeats" in result.truncated


def test_next_link_to_another_host_is_refused_and_never_called(fhir):
    fhir.get(f"{BASE}/Condition", json=page(["c0"], "https://evil.example.com/fhir/Condition?p=2"))
    with pytest.raises(FhirError, match="another host"):
        client().search("Condition?patient=1")
    assert len(fhir.calls) == 1


@pytest.mark.parametrize("status, error", [(401, FhirUnauthorized), (403, FhirForbidden),
                                           (404, FhirNotFound), (410, FhirNotFound), (500, FhirError)])
def test_status_errors_are_typed_and_carry_the_diagnostics(fhir, status, error):
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "why"}]}
    fhir.get(f"{BASE}/Patient/p1", json=outcome, status=status)
    with pytest.raises(error) as raised:
        client().read("Patient", "p1")
    assert raised.value.status == status and str(raised.value) == f"HTTP {status}: why"
    assert len(fhir.calls) == 1  # no retry for these


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"resourceType": "Patient", "id": "x"}', "[1, 2]"])
def test_a_search_answer_that_is_not_a_json_bundle_is_malformed(fhir, body):
    fhir.get(f"{BASE}/Condition", body=body, content_type="application/fhir+json")
    with pytest.raises(FhirError, match="malformed"):
        client().search("Condition?patient=1")


def test_503_with_retry_after_is_retried_then_succeeds(fhir):
    fhir.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "0"})
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client().read("Patient", "p1")["id"] == "p1"
    assert len(fhir.calls) == 2


def test_retry_after_beyond_the_deadline_fails_at_once(fhir):
    fhir.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(FhirTimeout, match="no time left"):
        client().read("Patient", "p1")
    assert time.monotonic() - started < 0.5


def test_retries_stop_after_the_configured_count(fhir):
    fhir.get(f"{BASE}/Patient/p1", status=502)
    with pytest.raises(FhirError, match="HTTP 502"):
        client(SETTINGS.replace(fhir_retries=2)).read("Patient", "p1")
    assert len(fhir.calls) == 3


def test_connection_refused_is_retried_then_unreachable(fhir):
    fhir.get(f"{BASE}/Patient/p1", body=requests.ConnectionError("refused"))
    with pytest.raises(FhirUnreachable):
        client().read("Patient", "p1")
    assert len(fhir.calls) == 3


def test_connect_timeout_becomes_fhir_timeout(fhir):
    fhir.get(f"{BASE}/Patient/p1", body=requests.ConnectTimeout("slow connect"))
    with pytest.raises(FhirTimeout):
        client().read("Patient", "p1")


def test_read_timeout_is_not_retried(fhir):
    fhir.add_callback(responses.GET, f"{BASE}/Patient/p1",
                      callback=lambda request: (_ for _ in ()).throw(requests.ReadTimeout("slow read")))
    with pytest.raises(FhirTimeout):
        client().read("Patient", "p1")
    assert len(fhir.calls) == 1


class RecordingSession:
    """Stands in for requests.Session to see the timeouts passed to ``get``."""

    def __init__(self):
        self.timeouts = []

    def get(self, url, headers, timeout, allow_redirects):
        self.timeouts.append(timeout)
        response = requests.Response()
        response.status_code, response._content = 200, b'{"resourceType": "Patient", "id": "p1"}'
        return response


def test_timeouts_are_clipped_to_the_time_left():
    now = [0.0]
    deadline = Deadline(3.0, clock=lambda: now[0])
    session = RecordingSession()
    fhir_client = FhirClient(BASE, None, SETTINGS, session, deadline)
    fhir_client.read("Patient", "p1")
    now[0] = 2.5
    fhir_client.read("Patient", "p1")
    now[0] = 3.0
    with pytest.raises(FhirTimeout, match="deadline"):
        fhir_client.read("Patient", "p1")
    assert session.timeouts == [(1.0, 2.5), (0.5, 0.5)]


def test_the_token_is_never_logged_nor_shown(fhir, caplog):
    caplog.set_level(logging.DEBUG)
    fhir.get(f"{BASE}/Patient/p1", status=503)
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    fhir_client = client()
    fhir_client.read("Patient", "p1")
    assert "retry" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in repr(fhir_client)


def test_one_shared_session_per_process():
    assert shared_session() is shared_session()


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
