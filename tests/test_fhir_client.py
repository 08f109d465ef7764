"""FhirClient: timeouts within the deadline, paging, retries and typed errors (HTTP mocked)."""
from __future__ import annotations

import io
import logging

import pytest
import requests
import responses
import urllib3
from responses import matchers

from cds_service.fhir import client as fhir_client_module
from cds_service.config import ConfigError, Settings
from cds_service.fhir.client import (Deadline, FhirClient, FhirError, FhirForbidden, FhirNotFound,
                                     FhirTimeout, FhirUnauthorized, FhirUnreachable, next_link,
                                     retry_after_seconds, shared_session)
from streams import CountingBody

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


@pytest.mark.parametrize("next_url, followed", [
    ("https://evil.example.com/fhir/Condition?p=2", f"{BASE}/Condition?p=2"),  # re-based: only the query is kept
    ("http://localhost:8080/fhir/Condition?p=2", f"{BASE}/Condition?p=2"),  # a host alias (HAPI server_address)
    ("https://ehr.example.org:8443/fhir/Condition?p=2", f"{BASE}/Condition?p=2"),
    ("http://proxy.internal/hapi/fhir?_getpages=8f2a&_getpagesoffset=1", f"{BASE}?_getpages=8f2a&_getpagesoffset=1"),
    ("https://ehr.example.org/fhir/../admin/export", None),
    ("https://ehr.example.org/fhir/%2e%2e/admin/export", None),
    ("https://ehr.example.org/other/Observation?p=2", None),  # another resource type: not this search's page
    ("ftp://ehr.example.org/fhir/Condition?p=2", None),
    ("/fhir/Condition?p=2", None),
], ids=["other host", "host alias", "other port", "HAPI getpages via a proxy", "dot segments",
        "encoded dot segments", "other type", "other scheme", "relative"])
def test_next_link_on_another_spelling_is_rebased_onto_fhir_server_or_paging_stops(fhir, next_url, followed):
    """decision-rules §8 v2: the token only ever goes to fhirServer; pages read are kept."""
    fhir.get(f"{BASE}/Condition", json=page(["c0"], next_url), match=[matchers.query_string_matcher("patient=1")])
    if followed:
        fhir.get(followed, json=page(["c1"]), match=[matchers.query_string_matcher(followed.split("?")[1])])
    result = client().search("Condition?patient=1")
    assert all(call.request.url.startswith(BASE) for call in fhir.calls)
    if followed:
        assert [r["id"] for r in result.resources] == ["c0", "c1"] and result.truncated is None
    else:
        assert [r["id"] for r in result.resources] == ["c0"] and len(fhir.calls) == 1
        assert "not on the FHIR server's base URL" in result.truncated


def test_latest_value_search_reads_one_page_and_is_complete(fhir):
    fhir.get(f"{BASE}/Observation", json=page(["o0"], f"{BASE}/Observation?patient=1&_offset=20"))
    result = client().search("Observation?patient=1&_sort=-date&_count=20", first_page_only=True)
    assert ([r["id"] for r in result.resources], result.pages, result.truncated) == (["o0"], 1, None)
    assert len(fhir.calls) == 1


@pytest.mark.parametrize("next_url", [
    f"{BASE}?_getpages=8f2a&_getpagesoffset=1&_count=1",  # HAPI
    f"{BASE}/Condition?patient=1&_count=1&_offset=1",  # sekmet, absolute
    "https://EHR.example.org:443/fhir/Condition?patient=1&_offset=1",  # same origin spelled differently
])
def test_next_links_under_the_base_url_are_followed(fhir, next_url):
    fhir.get(f"{BASE}/Condition", json=page(["c0"], next_url),
             match=[matchers.query_string_matcher("patient=1")])
    fhir.get(next_url, json=page(["c1"]), match=[matchers.query_string_matcher(next_url.split("?")[1])])
    result = client().search("Condition?patient=1")
    assert [r["id"] for r in result.resources] == ["c0", "c1"] and result.pages == 2


@pytest.mark.parametrize("url", [{"href": f"{BASE}/Condition?p=2"}, 2, ["x"], "", None, True])
def test_a_next_link_that_is_not_a_string_ends_paging(fhir, url):
    bundle = page(["c0"])
    bundle["link"] = [{"relation": "next", "url": url}]
    result = client().follow(bundle)
    assert ([r["id"] for r in result.resources], result.pages, result.truncated) == (["c0"], 0, None)
    assert next_link(bundle) is None


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


def test_retry_after_beyond_the_deadline_fails_at_once(fhir, monkeypatch):
    fhir.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "30"})
    slept = []
    monkeypatch.setattr(fhir_client_module.time, "sleep", slept.append)
    with pytest.raises(FhirTimeout, match="no time left"):
        client().read("Patient", "p1")
    assert slept == [] and len(fhir.calls) == 1


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


class RecordingSession(requests.Session):
    """A requests.Session that records the timeouts it is asked to send with and answers itself."""

    def __init__(self):
        super().__init__()
        self.timeouts = []

    def send(self, request, timeout, **options):
        self.timeouts.append(timeout)
        response = requests.Response()
        response.status_code = 200
        response.raw = urllib3.HTTPResponse(io.BytesIO(b'{"resourceType": "Patient", "id": "p1"}'),
                                            preload_content=False)
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


@pytest.mark.parametrize("outcome, expected", [
    ({"issue": [{"severity": "error", "details": "text instead of a CodeableConcept"}]}, "HTTP 500"),
    ({"issue": [{"severity": "error", "diagnostics": 42}]}, "HTTP 500"),
    ({"issue": [{"severity": "error", "diagnostics": {"x": 1}, "details": {"text": ["no"]}}]}, "HTTP 500"),
    ({"issue": "not a list"}, "HTTP 500"),
    ({"issue": [{"details": {"text": "from details"}}, {"diagnostics": "why"}, None]},
     "HTTP 500: from details; why"),
])
def test_a_malformed_operation_outcome_still_gives_a_typed_error(fhir, outcome, expected):
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "OperationOutcome", **outcome}, status=500)
    with pytest.raises(FhirError) as raised:
        client(SETTINGS.replace(fhir_retries=0)).read("Patient", "p1")
    assert str(raised.value) == expected


@pytest.fixture
def fresh_shared_session(monkeypatch):
    monkeypatch.setattr(fhir_client_module, "_session", None)
    yield shared_session
    monkeypatch.setattr(fhir_client_module, "_session", None)


def test_cookies_set_by_a_fhir_server_are_never_sent_on_later_calls(fhir, fresh_shared_session):
    fhir.get(f"{BASE}/Patient/a", json={"resourceType": "Patient", "id": "a"},
             headers={"Set-Cookie": "JSESSIONID=user-a-session; Path=/; Secure"})
    fhir.get(f"{BASE}/Patient/b", json={"resourceType": "Patient", "id": "b"})
    session = fresh_shared_session()
    FhirClient(BASE, "token-of-user-a", SETTINGS, session).read("Patient", "a")
    FhirClient(BASE, "token-of-user-b", SETTINGS, session).read("Patient", "b")
    assert "Cookie" not in fhir.calls[1].request.headers
    assert len(session.cookies) == 0


def test_a_netrc_entry_never_replaces_the_bearer_token_nor_is_sent_without_one(fhir, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine ehr.example.org login svc password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    fhir.get(f"{BASE}/Patient/p2", json={"resourceType": "Patient", "id": "p2"})
    client().read("Patient", "p1")
    client(token=None).read("Patient", "p2")
    assert fhir.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in fhir.calls[1].request.headers


@pytest.mark.parametrize("status", [200, 500])
def test_a_response_larger_than_the_cap_is_refused_without_reading_it_all(fhir, status):
    body = CountingBody(64 * 1024 * 1024)
    fhir.get(f"{BASE}/Patient/p1", body=io.BufferedReader(body), status=status)
    capped = SETTINGS.replace(fhir_max_response_bytes=100_000, fhir_retries=0)
    with pytest.raises(FhirError, match="malformed: response larger than 100000 bytes"):
        client(capped).read("Patient", "p1")
    assert body.sent < 2 * 1024 * 1024


def test_a_response_announcing_a_length_over_the_cap_is_refused_unread(fhir):
    body = CountingBody(200_000)
    fhir.get(f"{BASE}/Patient/p1", body=io.BufferedReader(body), headers={"Content-Length": "200000"})
    with pytest.raises(FhirError, match="larger than 100000 bytes"):
        client(SETTINGS.replace(fhir_max_response_bytes=100_000)).read("Patient", "p1")
    assert body.sent == 0


def test_a_response_within_the_cap_is_read(fhir):
    fhir.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1", "text": {"div": "x" * 5000}})
    assert client(SETTINGS.replace(fhir_max_response_bytes=6000)).read("Patient", "p1")["id"] == "p1"


@pytest.mark.parametrize("name, value", [("fhir_retries", "-1"), ("fhir_max_response_bytes", "0")])
def test_negative_retries_and_a_zero_response_cap_are_refused(name, value):
    with pytest.raises(ConfigError, match=name.upper()):
        Settings.build({name: value})
    assert Settings.build({"fhir_retries": "0"}).fhir_retries == 0
