"""The TRD evidence document and the suggested resources, built without markdown-it or fhir.resources.

``cards.to_html`` must give the bytes markdown-it gives (the oracle here, and the preview's renderer),
for every fixture and for hostile data; every suggested resource must be what fhir.resources R4B
validates and dumps, key order included.
"""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import date

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.servicerequest import ServiceRequest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fhir_mappings.records import ScaleScore
from hooks import Policy
from hooks.cards import EVIDENCE_LABEL, Finding, build_card, table, to_html
from hooks.trd import FAILED, INSUFFICIENT, MET, NOT_COUNTED, NOT_FAILED, NOT_MET, UNKNOWN, ScorePair, Trial, TrdResult
from hooks.trd_card import HEADERS, trd_finding
from test_fixture_responses_pinned import SNAPSHOT

ORACLE = MarkdownIt("commonmark", {"html": False}).enable("table")
MODELS = {"DocumentReference": DocumentReference, "ServiceRequest": ServiceRequest}
NASTY = ["|", "a | b", "\\", "\\|", "|\\", "<script>alert(1)</script>", "&", "AT&T", "&amp;", "&#60;", "&#x3C;",
         "&notin;", "&#0;", "&#99999999;", "&bogus;", "*", "**bold**", "*em*", "_x_", "__init__", "`code`", "```",
         "~~~", "~~strike~~", "a\nb", "a  \nb", "\\\n", "\r\n", "# heading", "###", "- item", "-", "+ x", "* x",
         "1. one", "1.", "2026) x", "1.5 mg", "-10.0%", "> quote", "[link](http://x)", "![img](x)", "<http://x>",
         "https://example.org/a_b", "\"quoted\" 'single'", "{}", "    indented", "\t", "\x00", "\u2028", "\xa0",
         "é 漢 😀 → ≥", "", " ", "---", "===", "|---|", "<!-- c -->", "<b>", "x" * 3000]
TEXT = st.one_of(st.sampled_from(NASTY),
                 st.text(st.sampled_from("|\\<>&#;*_`~-+.)1 \n\"'[]()!=:xé→\x00"), max_size=24),
                 st.text(max_size=24))
DATES = st.dates(date(1990, 1, 1), date(2030, 12, 31))
DOSES = st.none() | st.floats(0, 10_000)


def _score(draw) -> ScaleScore:
    return ScaleScore(draw(TEXT), draw(st.floats(0, 60)), draw(DATES), draw(TEXT))


@st.composite
def trials(draw) -> Trial:
    scores = ScorePair(_score(draw), _score(draw)) if draw(st.booleans()) else None
    return Trial(draw(TEXT), draw(st.none() | TEXT), draw(st.none() | DATES), draw(DATES), draw(st.booleans()),
                 draw(DOSES), draw(DOSES), draw(st.none() | st.integers(0, 5_000)), scores,
                 draw(st.sampled_from((FAILED, NOT_FAILED, UNKNOWN, NOT_COUNTED))),
                 tuple(draw(st.lists(TEXT, max_size=3))), tuple(draw(st.lists(TEXT, max_size=3))),
                 sessions=draw(st.none() | st.integers(1, 40)))


@st.composite
def trd_findings(draw) -> Finding:
    """A TRD finding from hostile trials, bipolar Condition sources and policy version."""
    rows = tuple(draw(st.lists(trials(), max_size=4)))
    result = TrdResult(draw(st.sampled_from((MET, NOT_MET, INSUFFICIENT))), draw(st.integers(0, 9)),
                       draw(st.integers(0, 9)), tuple(draw(st.lists(TEXT, max_size=3))), rows)
    policy = replace(Policy(), version=draw(TEXT), require_distinct_classes=draw(st.booleans()),
                     count_augmentation=draw(st.booleans()))
    return trd_finding(result, draw(st.sampled_from(("esketamine", "ketamine"))), policy,
                       tuple(draw(st.lists(TEXT, max_size=2))))


def _suggestions(cards):
    return [action["resource"] for card in cards for suggestion in card.get("suggestions", ())
            for action in suggestion["actions"]]


def _attachments(resource: dict) -> tuple[str, str]:
    markdown, html = (base64.b64decode(c["attachment"]["data"]).decode("utf-8") for c in resource["content"])
    return markdown, html


def assert_valid_fhir(resource: dict) -> None:
    """fhir.resources R4B accepts the resource and dumps exactly it, in the same key order."""
    dumped = MODELS[resource["resourceType"]].model_validate(resource).model_dump(mode="json", exclude_none=True)
    assert json.dumps(dumped) == json.dumps(resource)


def assert_html_is_markdown_its(resource: dict) -> None:
    markdown, html = _attachments(resource)
    assert html == f"<!DOCTYPE html><html><body>{ORACLE.render(markdown)}</body></html>"


FIXTURE_RESOURCES = [resource for response in json.loads(SNAPSHOT.read_text(encoding="utf-8")).values()
                     for resource in _suggestions(response["cards"])]


def test_the_fixtures_suggest_both_resource_types():
    assert {r["resourceType"] for r in FIXTURE_RESOURCES} == {"DocumentReference", "ServiceRequest"}


@pytest.mark.parametrize("resource", FIXTURE_RESOURCES, ids=lambda r: r["resourceType"])
def test_every_fixture_suggestion_is_valid_r4b_and_its_html_is_markdown_its(resource):
    """The pinned responses equal the service's (test_fixture_responses_pinned.py)."""
    assert_valid_fhir(resource)
    if resource["resourceType"] == "DocumentReference":
        assert_html_is_markdown_its(resource)


@settings(derandomize=True, database=None, deadline=None, max_examples=400)
@given(finding=trd_findings())
def test_hostile_documents_render_as_markdown_it_does_and_stay_valid_r4b(finding):
    finding = replace(finding, document=finding.detail)
    card = build_card(finding, "hook", "MedicationRequest/m", "p1", "Practitioner/u1", date(2026, 11, 20))
    [resource] = [r for r in _suggestions([card]) if r["resourceType"] == "DocumentReference"]
    assert _attachments(resource)[0] == finding.detail
    assert_html_is_markdown_its(resource)
    assert_valid_fhir(resource)


@pytest.mark.parametrize("value", NASTY)
def test_each_nasty_string_in_every_table_cell_and_list_item(value):
    trial = Trial(value, value, date(2025, 1, 1), date(2025, 3, 1), False, None, None, None,
                  ScorePair(ScaleScore(value, 20, date(2025, 1, 1), value), ScaleScore(value, 10, date(2025, 3, 1), value)),
                  UNKNOWN, unknown=(value, value))
    detail = trd_finding(TrdResult(INSUFFICIENT, 0, 2, (value,), (trial,)), "esketamine",
                         replace(Policy(), version=value), (value,)).detail
    assert to_html(detail) == ORACLE.render(detail)


def test_a_table_without_rows_has_no_body():
    markdown = table(HEADERS, [])
    assert to_html(markdown) == ORACLE.render(markdown) and "<tbody>" not in to_html(markdown)


def test_a_suggested_resource_is_the_callers_own_copy():
    finding = trd_finding(TrdResult(NOT_MET, 0, 0, (), ()), "esketamine", Policy())
    first = build_card(replace(finding, document=finding.detail), "hook", "MedicationRequest/m", "p1")
    [resource] = _suggestions([first])
    resource["type"]["coding"].clear()
    again = build_card(replace(finding, document=finding.detail), "hook", "MedicationRequest/m", "p1")
    assert _suggestions([again])[0]["type"]["coding"][0]["code"] == "51851-4"
    assert first["suggestions"][0]["label"] == EVIDENCE_LABEL
