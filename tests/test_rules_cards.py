"""Card shape (CDS Hooks 2.0 §1.5 and decision-rules.md §0) over a patient that triggers every topic."""
from __future__ import annotations

import html
from dataclasses import replace

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.servicerequest import ServiceRequest
from markdown_it import MarkdownIt

from hooks import Policy, advise
from hooks.cards import OVERRIDE_SYSTEM, TOPIC_SYSTEM, TOPICS, Item, clip, md, merge_items
from fhir_mappings.records import Administration
from test_rules_records import (TODAY, allergy, condition, days_ago, exposure, measurement, order, patient,
                                trials)

LONG_NAMES = [("sertraline", "SSRI"), ("bupropion", "NDRI"), ("duloxetine", "SNRI"), ("nortriptyline", "TCA"),
              ("phenelzine", "MAOI"), ("mirtazapine", "NaSSA"), ("trazodone", "SARI"),
              ("vortioxetine", "multimodal serotonergic"), ("vilazodone", "SSRI + 5-HT1A partial agonist")]
MEDS, SCORES = trials(*((name, cls, days_ago(700 - 70 * i)) for i, (name, cls) in enumerate(LONG_NAMES)))
BUSY = patient(medications=MEDS + (exposure("lorazepam", "benzodiazepine", status="active", roles=("cns-depressant",)),),
               scores=SCORES, measurements=(measurement("systolic", 150), measurement("diastolic", 95)),
               conditions=(condition("aneurysm", display="Aortic | aneurysm *big*"), condition("bipolar"),
                           condition("pregnancy"), condition("substance-use"), condition("lactation"),
                           condition("hepatic-failure")),
               allergies=(allergy("esketamine"),), birth_date=days_ago(16 * 366),
               # an esketamine course from 40 days ago, no score after it: treatment-course warning
               administrations=tuple(Administration(f"MedicationAdministration/a{n}", "esketamine", days_ago(d))
                                     for n, d in enumerate((40, 36, 33, 29, 12, 5))))
ORDERS = [order("esketamine", dose_mg=112.0, order_ref="MedicationRequest/e"),
          order("ketamine", dose_mg=35.0, order_ref="MedicationRequest/k")]
UNAVAILABLE = frozenset({"encounter"})


def cards(seed="hook-1", the_patient=BUSY):
    return advise(ORDERS, the_patient, Policy(), TODAY, UNAVAILABLE, seed)


def empty_values(value, path="card"):
    if value in ("", [], {}, None):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from empty_values(item, f"{path}[{index}]")


def test_the_busy_patient_triggers_every_topic():
    assert {card["source"]["topic"]["code"] for card in cards()} == set(TOPICS) - {
        "trd-criteria-not-met", "trd-criteria-insufficient-data"}


def test_no_card_has_an_empty_or_null_value():
    assert [path for card in cards() for path in empty_values(card)] == []


def test_summaries_are_under_140_characters_even_for_long_ingredient_lists():
    all_cards = cards()
    assert max(len(card["summary"]) for card in all_cards) < 140
    all_cards = cards(the_patient=replace(BUSY, conditions=BUSY.conditions[:1]))  # no bipolar: names listed
    trd = next(c for c in all_cards if c["source"]["topic"]["code"] == "trd-criteria-met")
    assert trd["summary"].startswith("TRD criteria met: 9 adequate failed trials in distinct classes (sertraline")
    assert "more)" in trd["summary"]
    assert max(len(card["summary"]) for card in all_cards) < 140


def test_every_card_has_a_topic_label_and_an_absolute_url_when_a_public_source_exists():
    for card in cards():
        source = card["source"]
        assert source["topic"]["system"] == TOPIC_SYSTEM
        assert source["topic"]["display"] == TOPICS[source["topic"]["code"]]
        if source["topic"]["code"] == "duplicate-therapy":  # the project's own rule: no public page
            assert "url" not in source and "decision rules" in source["label"]
        else:
            assert source["label"] and source["url"].startswith("https://")


def test_warning_and_critical_cards_offer_override_reasons_and_info_cards_do_not():
    for card in cards():
        reasons = card.get("overrideReasons", [])
        assert bool(reasons) is (card["indicator"] != "info"), card["summary"]
        assert all(r["system"] == OVERRIDE_SYSTEM and r["code"] and r["display"] for r in reasons)


def test_suggestions_carry_selection_behavior_and_valid_service_requests():
    suggested = [card for card in cards() if "suggestions" in card]
    topics = {card["source"]["topic"]["code"] for card in suggested}
    assert topics == {"blood-pressure", "rems-prerequisites", "dose-check", "trd-criteria-met"}  # no weight
    for card in suggested:
        assert card["selectionBehavior"] == "at-most-one"
        for suggestion in card["suggestions"]:
            if suggestion["label"] == "Save the TRD evidence summary to the chart":
                continue  # a DocumentReference: see the test below
            assert suggestion["uuid"] and suggestion["label"]
            [action] = suggestion["actions"]
            assert action["type"] == "create" and action["description"]
            resource = ServiceRequest.model_validate(action["resource"]).model_dump(mode="json", exclude_none=True)
            assert resource == action["resource"]
            assert (resource["status"], resource["intent"], resource["subject"]) == (
                "draft", "proposal", {"reference": "Patient/p1"})


def test_weight_request_suggestion_for_ketamine_without_weight():
    the_patient = replace(BUSY, measurements=())
    dose_card = next(c for c in cards(the_patient=the_patient)
                     if c["source"]["topic"]["code"] == "dose-check" and "ketamine" in c["summary"].lower()
                     and "weight" in c["summary"])
    code = dose_card["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["code"]
    assert code == "29463-7"


def test_uuids_are_deterministic_unique_and_depend_on_the_hook_instance():
    first, again, other = cards("hook-1"), cards("hook-1"), cards("hook-2")
    uuids = [card["uuid"] for card in first]
    assert uuids == [card["uuid"] for card in again]
    assert len(set(uuids)) == len(uuids)
    assert not set(uuids) & {card["uuid"] for card in other}


@pytest.mark.parametrize("the_order, count", [(ORDERS[0], 14), (ORDERS[1], 12)])
def test_at_most_one_card_per_topic_per_order(the_order, count):
    topics = [c["source"]["topic"]["code"] for c in advise([the_order], BUSY, Policy(), TODAY, UNAVAILABLE, "s")]
    assert len(topics) == len(set(topics)) == count  # the encounter matters to esketamine (REMS) only


def test_data_derived_text_is_escaped_in_markdown():
    contraindication = next(c for c in cards() if c["source"]["topic"]["code"] == "contraindication")
    assert "Aortic \\| aneurysm \\*big\\*" in contraindication["detail"]
    assert md("a|b_c") == "a\\|b\\_c"


@pytest.mark.parametrize("value", ["- x", "-", "+ y", "1. x", "2026) x", "&amp;", "&#60; &notin; AT&T"])
def test_data_starting_a_list_item_stays_text_never_a_nested_list_or_an_entity(value):
    rendered = MarkdownIt("commonmark", {"html": False}).render(f"- {md(value)} (more)")
    assert rendered == f"<ul>\n<li>{html.escape(value, quote=False)} (more)</li>\n</ul>\n"


def test_the_trd_detail_ends_with_the_suicide_prevention_limitation():
    for card in cards():
        if card["source"]["topic"]["code"].startswith("trd-criteria"):
            assert card["detail"].endswith("in preventing suicide or in reducing suicidal ideation or "
                                           "behavior has not been established.")


@pytest.mark.parametrize("drug", ["esketamine", "ketamine"])
def test_the_trd_card_is_returned_even_without_any_history(drug):
    [card] = [c for c in advise([order(drug)], patient(), Policy(), TODAY, frozenset(), "s")
              if c["source"]["topic"]["code"].startswith("trd")]
    assert (card["source"]["topic"]["code"], card["indicator"]) == ("trd-criteria-not-met", "warning")


def test_every_trd_card_offers_the_evidence_table_as_a_valid_r4_document_reference():
    import base64

    for the_patient, drug in ((BUSY, "esketamine"), (patient(), "ketamine")):
        [trd] = [c for c in advise([order(drug)], the_patient, Policy(), TODAY, UNAVAILABLE, "s", user="Practitioner/u1")
                 if c["source"]["topic"]["code"].startswith("trd")]
        [suggestion] = [s for s in trd["suggestions"] if s["label"] == "Save the TRD evidence summary to the chart"]
        assert suggestion["isRecommended"] is False
        [action] = suggestion["actions"]
        resource = DocumentReference.model_validate(action["resource"]).model_dump(mode="json", exclude_none=True)
        assert resource == action["resource"]
        assert (resource["status"], resource["subject"], resource["author"], resource["date"]) == (
            "current", {"reference": "Patient/p1"}, [{"reference": "Practitioner/u1"}], f"{TODAY}T00:00:00Z")
        assert resource["type"]["text"] == "Treatment-resistant depression evidence summary"
        markdown, html = (base64.b64decode(c["attachment"]["data"]).decode() for c in resource["content"])
        assert [c["attachment"]["contentType"] for c in resource["content"]] == ["text/markdown", "text/html"]
        assert markdown == trd["detail"]
        if the_patient is BUSY:  # the evidence table, rendered as an HTML table
            assert "<th>Ingredient</th>" in html and "<td>sertraline</td>" in html
        else:
            assert "No antidepressant trial found" in html and "<table>" not in html


def test_more_count_is_never_cut_and_long_summaries_are_cut_between_words():
    long = "Respiratory depression risk: " + "Obstructive sleep apnea syndrome of the adult " * 3 + "with oxycodone"
    items = [Item("warning", long, "a"), Item("warning", "second", "b"), Item("warning", "third", "c")]
    summary = merge_items("drug-interaction", items, "label").summary
    assert len(summary) <= 139 and summary.endswith("… (+2 more)")
    assert summary[:-len("… (+2 more)")] == long[:len(summary) - len("… (+2 more)")]  # a prefix of the text
    assert long[len(summary) - len("… (+2 more)")] == " "  # cut between words
    assert clip("Supercalifragilistic", 10) == "Supercali…"  # one long word: cut inside it
    assert clip("short", 10) == "short"
