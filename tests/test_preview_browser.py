"""The card preview in headless Chromium (Debian's package) against the real service on 127.0.0.1.

Every card topic of the fixtures is rendered, accept and override send feedback that the store
keeps, and no script from card content runs. ``TRD_CDS_SCREENSHOT_DIR=docs/img`` refreshes the
README screenshots; otherwise they go to a temporary folder.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

import fixtures
from cds_service import create_app
from tests.test_preview import make_cards_hostile

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
EXPECTED = fixtures.expected()
# (patient, extra query, screenshot file or None); together they show every topic of the fixtures.
SCENARIOS = [
    ("bp-elevated", "", "preview-esketamine-blood-pressure.png"),
    ("aortic-aneurysm", "", "preview-esketamine-contraindication.png"),
    ("ketamine-over-one", "", "preview-ketamine-dose.png"),
    ("not-met-single-trial", "", None),
    ("insufficient-missing-dose", "", None),
    ("bipolar", "", None),
    ("pregnancy", "", None),
    ("substance-use", "", None),
    ("benzodiazepine", "", None),
    ("aortic-aneurysm", "&fail=conditions&fail=allergies", None),
    # decision-rules v2 topics (issue 14)
    ("pediatric-esketamine", "", None),
    ("breastfeeding-condition", "", None),
    ("cirrhosis-decompensated", "", None),
    ("esketamine-course-ketamine-order", "", None),
    ("course-week6-too-frequent", "", None),
]
RECORD_CSP_VIOLATIONS = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective));"""


@pytest.fixture(scope="module")
def service():
    server = make_server("127.0.0.1", 0, create_app({"auth": "off", "preview": "on"}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, chromium_sandbox=False,
                                              args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    yield context.new_page()
    context.close()


def _shown(page) -> set[str]:
    return {card.get_attribute("data-topic") for card in page.locator("article.card").all()}


def _expected(patient: str, hook: str = "order-sign") -> set[str]:
    return {topic for topic, _ in EXPECTED[f"{patient}.{hook}.json"]["cards"]}


def test_the_form_asks_the_service_for_cards(service, page):
    page.goto(f"{service}/preview")
    page.select_option("select[name=patient]", "ketamine-over-one")
    page.check("input[name=hook][value=order-select]")
    page.click("text=Show cards")
    assert "patient=ketamine-over-one" in page.url and "hook=order-select" in page.url
    assert _shown(page) == _expected("ketamine-over-one", "order-select")


def test_every_fixture_topic_renders_as_a_card(service, page, tmp_path):
    screenshots = Path(os.environ.get("TRD_CDS_SCREENSHOT_DIR") or tmp_path)
    seen: set[str] = set()
    for patient, query, screenshot in SCENARIOS:
        page.goto(f"{service}/preview?patient={patient}{query}")
        shown = _shown(page)
        assert query or shown == _expected(patient)
        assert page.locator("article.card .detail").first.is_visible()
        assert page.locator("article.card .icon").first.is_visible()
        assert page.evaluate("window.cspViolations") == []
        seen |= shown
        if screenshot:
            page.screenshot(path=screenshots / screenshot, full_page=True)
    assert seen == {topic for entry in EXPECTED.values() for topic, _ in entry["cards"]}


def test_evidence_table_and_source_link_render(service, page):
    page.goto(f"{service}/preview?patient=met-two-classes")
    trd = page.locator("article[data-topic=trd-criteria-met]")
    assert trd.locator(".detail table th").first.is_visible()
    assert trd.locator(".meta a").get_attribute("href").startswith("https://")


def test_accept_and_override_send_feedback_the_store_keeps(service, page):
    page.goto(f"{service}/preview?patient=bp-elevated")
    blood_pressure = page.locator("article[data-topic=blood-pressure]")
    blood_pressure.locator("button.accept").click()
    sync_api.expect(blood_pressure.locator(".feedback-status")).to_contain_text("stored 1")
    rems = page.locator("article[data-topic=rems-prerequisites]")
    rems.locator(".override-comment").fill("Clinic certification confirmed by phone")
    rems.locator("button.override").click()
    sync_api.expect(rems.locator(".feedback-status")).to_contain_text("stored 1")

    log = page.locator("#feedback-log pre").text_content()
    sent = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    accepted, overridden = (body["feedback"][0] for body in sent)
    assert accepted["outcome"] == "accepted" and accepted["acceptedSuggestions"][0]["id"]
    assert overridden["overrideReason"] == {
        "reason": {"system": "urn:trd-cds:override-reason", "code": "rems-documented-elsewhere",
                   "display": "Enrolment / certification documented elsewhere"},
        "userComment": "Clinic certification confirmed by phone"}
    for body in sent:  # the store is idempotent: the same feedback again is a duplicate of the stored one
        answer = requests.post(f"{service}/cds-services/ketamine-esketamine-order-sign/feedback", json=body, timeout=5)
        assert answer.json() == {"stored": 0, "duplicates": 1, "unknownCards": 0}


def test_no_script_from_card_content_runs(service, page, monkeypatch):
    make_cards_hostile(monkeypatch)
    page.goto(f"{service}/preview")
    first = page.locator("article.card").first
    assert "<script>window.pwned = 1</script>" in first.locator(".detail").text_content()
    assert first.locator(".meta a").count() == 0  # the javascript: source URL is not a link
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("window.cspViolations") == []  # escaped, so nothing even tried to run
