"""Issue 14 end to end through the Flask app: what the v2 cards say, beyond their (topic, indicator)."""
from __future__ import annotations

import base64
import copy

from fhir.resources.R4B.documentreference import DocumentReference

import fixtures


def _cards(client, name, hook="order-sign", request=None):
    request = request or fixtures.load_request(name, hook)
    response = client.post(f"/cds-services/ketamine-esketamine-{hook}", json=request)
    assert response.status_code == 200, response.get_json()
    return {card["source"]["topic"]["code"]: card for card in response.get_json()["cards"]}


def test_trd_card_offers_the_evidence_table_as_a_document_reference_authored_by_the_user(client):
    trd = _cards(client, "met-two-classes")["trd-criteria-met"]
    [suggestion] = trd["suggestions"]
    resource = suggestion["actions"][0]["resource"]
    DocumentReference.model_validate(resource)
    assert suggestion["isRecommended"] is False
    assert resource["author"] == [{"reference": "Practitioner/trd-cds-prescriber"}]
    assert resource["subject"] == {"reference": "Patient/trd-cds-met-two-classes"}
    assert resource["date"] == "2026-11-20T00:00:00Z"  # the order's authoredOn
    markdown, html = (base64.b64decode(c["attachment"]["data"]).decode() for c in resource["content"])
    assert markdown == trd["detail"] and "| sertraline |" in markdown and "<td>venlafaxine</td>" in html


def test_young_adult_trd_detail_has_the_class_warning_before_the_limitation(client):
    detail = _cards(client, "young-adult")["trd-criteria-met"]["detail"]
    assert "Young adult (aged 22)" in detail
    assert detail.endswith("has not been established.")
    assert "Young adult" not in _cards(client, "met-two-classes")["trd-criteria-met"]["detail"]


def test_pediatric_card_for_both_drugs(client):
    assert "not approved in pediatric patients" in _cards(client, "pediatric-esketamine")["pediatric"]["detail"]
    assert "aged 16" in _cards(client, "pediatric-ketamine")["pediatric"]["summary"]


def test_hypertension_bp_card_names_the_condition_and_cites_the_drug_source(client):
    esketamine = _cards(client, "hypertension-bp-40-days")["blood-pressure"]
    ketamine = _cards(client, "hypertension-ketamine")["blood-pressure"]
    assert "178/104" in esketamine["summary"] and "hypertension" in esketamine["summary"]
    assert esketamine["source"]["label"] == "SPRAVATO US Prescribing Information"
    assert ketamine["source"]["label"] == "APA consensus statement on ketamine (2017)"


def test_interaction_cards_name_respiratory_risk_and_benzodiazepine_blunting(client):
    apnoea = _cards(client, "opioid-sleep-apnoea")["drug-interaction"]
    assert "Obstructive sleep apnea" in apnoea["detail"] and "respiratory depression" in apnoea["detail"]
    assert "more)" not in apnoea["summary"]  # the opioid is the only drug: nothing more to count
    benzodiazepine = _cards(client, "benzodiazepine-supply-ketamine")["drug-interaction"]
    assert "diazepam" in benzodiazepine["detail"] and "blunt" in benzodiazepine["detail"]


def test_bipolar_in_remission_says_lithium_is_active(client):
    caution = _cards(client, "bipolar-remission-lithium")["diagnosis-caution"]
    assert caution["summary"].endswith("mood stabilizer active: lithium")


def test_course_cards_state_the_phase_and_the_response(client):
    frequent = _cards(client, "course-week6-too-frequent")["treatment-course"]
    assert "week 6, maintenance (weeks 5-8)" in frequent["summary"]
    benefit = _cards(client, "course-continued-with-benefit")["treatment-course"]
    assert benefit["summary"].startswith("Esketamine course response documented: MADRS 30")
    assert "evaluate therapeutic benefit" in _cards(client, "course-continued-no-benefit")["treatment-course"]["summary"]


def test_unread_administrations_are_named_and_the_first_dose_is_not_guessed(client):
    cards = _cards(client, "course-administrations-unavailable")
    assert "dose-check" not in cards
    assert "medicationAdministrations" in cards["data-unavailable"]["summary"]
    request = copy.deepcopy(fixtures.load_request("course-first-session", "order-sign"))
    del request["prefetch"]["medicationAdministrations"]  # absent and no fhirServer: also unavailable
    assert "dose-check" not in _cards(client, "course-first-session", request=request)


def test_duplicate_therapy_names_the_esketamine_course(client):
    card = _cards(client, "esketamine-course-ketamine-order")["duplicate-therapy"]
    assert "active esketamine (SPRAVATO) course (last session 2026-11-15)" in card["summary"]


def test_administrations_read_in_part_never_make_a_first_session(client):
    request = copy.deepcopy(fixtures.load_request("course-first-session", "order-sign"))
    request["prefetch"]["medicationAdministrations"] = {"resourceType": "Bundle", "type": "searchset", "link": [
        {"relation": "next", "url": "https://ehr.example.org/fhir/MedicationAdministration?page=2"}]}
    cards = _cards(client, "course-first-session", request=request)
    assert "dose-check" not in cards
    assert "read in part: medicationAdministrations" in cards["data-unavailable"]["summary"]


def test_order_specific_cards_name_their_order_in_a_one_order_call(client):
    request = fixtures.load_request("met-two-classes", "order-sign")
    [entry] = request["context"]["draftOrders"]["entry"]
    rems = _cards(client, "met-two-classes", request=request)["rems-prerequisites"]
    assert rems["detail"].startswith("**Order:** ") and f"(MedicationRequest/{entry['resource']['id']})" in \
        rems["detail"].split("\n")[0]


def test_iv_ketamine_interaction_and_pediatric_cards_cite_the_ketamine_evidence(client):
    """The Spravato label governs esketamine only; IV ketamine cards cite the APA consensus (2017)."""
    apa, label = "APA consensus statement on ketamine (2017)", "SPRAVATO US Prescribing Information"
    assert _cards(client, "benzodiazepine-supply-ketamine")["drug-interaction"]["source"]["label"] == apa
    assert _cards(client, "benzodiazepine")["drug-interaction"]["source"]["label"] == label
    assert _cards(client, "pediatric-ketamine")["pediatric"]["source"]["label"] == apa
    assert _cards(client, "pediatric-esketamine")["pediatric"]["source"]["label"] == label
