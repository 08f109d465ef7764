"""Card preview page through the Flask test client: switch, request building, rendering, escaping."""
from __future__ import annotations

import re

import pytest

import fixtures
import hooks
from cds_service import create_app
from cds_service.config import ConfigError
from cds_service.preview.page import CSP, Choice, hook_request

HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 1">'


@pytest.fixture
def preview_client():
    return create_app({"auth": "off", "preview": "on"}).test_client()


def _topics(html: str) -> list[str]:
    return re.findall(r'data-topic="([^"]+)"', html)


def test_preview_is_off_by_default_and_answers_404_operation_outcome(client):
    response = client.get("/preview")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_preview_refuses_to_start_with_auth_on():
    with pytest.raises(ConfigError, match="PREVIEW=on needs TRD_CDS_AUTH=off"):
        create_app({"auth": "on", "preview": "on"})


@pytest.mark.parametrize("hook", fixtures.HOOKS)
@pytest.mark.parametrize("name", fixtures.patient_names())
def test_fixture_order_rebuilds_the_fixture_request(name, hook):
    built = hook_request(Choice(name, "fixture", hook, ()))
    stored = fixtures.load_request(name, hook)
    assert built.pop("hookInstance") != stored.pop("hookInstance")  # a fresh instance per view
    assert built == stored


def test_page_shows_the_cards_the_fixture_expects_with_its_own_csp(preview_client):
    response = preview_client.get("/preview?patient=esketamine-112mg&hook=order-select")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CSP
    html = response.get_data(as_text=True)
    expected = fixtures.expected()["esketamine-112mg.order-select.json"]["cards"]
    assert sorted(_topics(html)) == sorted(topic for topic, _ in expected)
    assert "<table>" in html and "HTTP 200" in html


def test_failing_optional_prefetch_gives_the_data_unavailable_card(preview_client):
    html = preview_client.get("/preview?patient=aortic-aneurysm&fail=conditions&fail=allergies").get_data(as_text=True)
    assert "data-unavailable" in _topics(html) and "contraindication" not in _topics(html)


def test_non_ketamine_order_shows_no_cards(preview_client):
    html = preview_client.get("/preview?order=sertraline").get_data(as_text=True)
    assert _topics(html) == [] and "No cards" in html


@pytest.mark.parametrize("query", ["patient=nobody", "order=heroin", "hook=patient-view", "fail=medicationRequests"])
def test_unknown_choices_answer_400(preview_client, query):
    response = preview_client.get(f"/preview?{query}")
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [query.split("=")[0]]


def make_cards_hostile(monkeypatch) -> None:
    """Make the first card of every answer carry script in its summary, detail, source and links."""
    real_advise = hooks.advise

    def hostile_advise(*args, **kwargs):
        cards = real_advise(*args, **kwargs)
        cards[0] = cards[0] | {"detail": HOSTILE, "summary": HOSTILE,
                               "source": cards[0]["source"] | {"url": "javascript:window.pwned=1"},
                               "links": [{"label": "app", "url": "javascript:alert(1)", "type": "absolute"}]}
        return cards

    monkeypatch.setattr(hooks, "advise", hostile_advise)


def test_card_detail_and_links_cannot_inject_script(preview_client, monkeypatch):
    make_cards_hostile(monkeypatch)
    html = preview_client.get("/preview").get_data(as_text=True)
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    cards_html = html.split("<pre>")[0]  # the raw JSON panels below show the text, escaped
    assert "<script>window" not in cards_html and "<img" not in cards_html and "javascript:" not in cards_html
