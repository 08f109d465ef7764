"""Draft orders of order-select / order-sign → OrderedMedication (fhir_mappings/orders.py)."""
from datetime import date

import pytest

from fhir_mappings.orders import ordered_medications, resolve_order

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def request(rid, medication, dose=None, route=None, repeat=None, **fields):
    instruction = {}
    if dose:
        instruction["doseAndRate"] = [{"doseQuantity": dose}]
    if route:
        instruction["route"] = route
    if repeat:
        instruction["timing"] = {"repeat": repeat}
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-03-04",
            "dosageInstruction": [instruction], **medication, **fields}


def coded(code, display):
    return {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


def context(*resources, selections=None, full_urls=None):
    entries = [{"resource": r, **({"fullUrl": full_urls[i]} if full_urls and full_urls[i] else {})}
               for i, r in enumerate(resources)]
    result = {"patientId": "p1", "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": entries}}
    return {**result, "selections": selections} if selections is not None else result


ESKETAMINE = request("es1", coded("2119365", "esketamine"), dose={"value": 56, "unit": "mg", "code": "mg"},
                     route={"coding": [{"system": SCT, "code": "46713006", "display": "Nasal route"}]},
                     repeat={"frequency": 2, "period": 1, "periodUnit": "wk"},
                     performer={"reference": "Organization/clinic-1"})
KETAMINE_IV = request("k1", coded("6130", "ketamine"), dose={"value": 0.5, "unit": "mg/kg", "code": "mg/kg"},
                      route={"coding": [{"system": SCT, "code": "47625008"}]},
                      repeat={"frequency": 1, "period": 1, "periodUnit": "d", "duration": 40, "durationUnit": "min"})
SERTRALINE = request("s1", coded("36437", "sertraline"), dose={"value": 50, "unit": "mg"})


def test_order_sign_returns_every_draft_request_classified():
    orders = ordered_medications(context(ESKETAMINE, KETAMINE_IV, SERTRALINE), "order-sign")
    assert [(o.order_ref, o.drug) for o in orders] == [
        ("MedicationRequest/es1", "esketamine"), ("MedicationRequest/k1", "ketamine"), ("MedicationRequest/s1", None)]
    es, ket = orders[0], orders[1]
    assert (es.route, es.dose_mg, es.per_week, es.performer, es.authored) == (
        "nasal", 56, 2, "Organization/clinic-1", date(2025, 3, 4))
    assert (ket.route, ket.dose_mg, ket.dose_mg_per_kg, ket.per_week, ket.infusion_minutes) == (
        "intravenous", None, 0.5, 7, 40)


def test_order_select_keeps_only_selections():
    ctx = context(ESKETAMINE, KETAMINE_IV, selections=["MedicationRequest/k1"])
    assert [o.order_ref for o in ordered_medications(ctx, "order-select")] == ["MedicationRequest/k1"]
    assert ordered_medications(context(ESKETAMINE, selections=[]), "order-select") == []


@pytest.mark.parametrize("text, drug", [("Spravato 56 mg", "esketamine"), ("ketamine 500 mg/10 mL inj", "ketamine"),
                                        ("ESKETAMINE nasal spray", "esketamine"), ("lorazepam 1 mg", None)])
def test_text_fallback(text, drug):
    order = request("t", {"medicationCodeableConcept": {"text": text}})
    assert ordered_medications(context(order), "order-sign")[0].drug == drug


def test_recognised_code_wins_over_text():
    order = request("t", {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437"}],
                                                         "text": "ketamine (mislabelled)"}})
    assert ordered_medications(context(order), "order-sign")[0].drug is None


def test_contained_medication_with_device_count_uses_strength_from_name():
    order = request("c", {"medicationReference": {"reference": "#med"}}, dose={"value": 2, "unit": "device"},
                    contained=[{"resourceType": "Medication", "id": "med",
                                "code": {"text": "Spravato 28 MG Nasal Spray Device"}}])
    result = ordered_medications(context(order), "order-sign")[0]
    assert (result.drug, result.dose_count, result.dose_mg, result.medication_reference) == ("esketamine", 2, 56, None)


@pytest.mark.parametrize("reference, full_url", [("Medication/m9", None), ("urn:uuid:5b1e", "urn:uuid:5b1e")])
def test_medication_found_in_draft_orders(reference, full_url):
    medication = {"resourceType": "Medication", "id": "m9",
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "50458-028-03"}]}}
    order = request("r", {"medicationReference": {"reference": reference}})
    result = ordered_medications(context(order, medication, full_urls=[None, full_url]), "order-sign")
    assert len(result) == 1 and result[0].drug == "esketamine" and result[0].medication_reference is None


def test_unresolved_reference_then_resolve_order():
    order = request("u", {"medicationReference": {"reference": "Medication/x"}}, dose={"value": 1, "unit": "{tbl}"})
    unresolved = ordered_medications(context(order), "order-sign")[0]
    assert (unresolved.drug, unresolved.medication_reference, unresolved.dose_mg) == (None, "Medication/x", None)
    medication = {"resourceType": "Medication", "id": "x",
                  "code": {"coding": [{"system": RXNORM, "code": "0", "display": "ketamine 50 MG Oral Tablet"}]}}
    resolved = resolve_order(unresolved, medication)
    assert (resolved.drug, resolved.medication_reference, resolved.dose_mg) == ("ketamine", None, 50)
    assert resolved.display == "ketamine 50 MG Oral Tablet"


def test_unresolved_reference_display_classifies_but_stays_to_be_read():
    order = request("d", {"medicationReference": {"reference": "Medication/y", "display": "Spravato"}})
    result = ordered_medications(context(order), "order-sign")[0]
    assert (result.drug, result.medication_reference, result.display) == ("esketamine", "Medication/y", "Spravato")


def test_route_text_and_dose_units():
    order = request("g", coded("6130", "ketamine"), dose={"value": 0.035, "unit": "g"}, route={"text": "IV"})
    result = ordered_medications(context(order), "order-sign")[0]
    assert result.route == "intravenous" and result.dose_mg == pytest.approx(35)


def test_odd_contexts_give_no_orders_and_odd_orders_do_not_raise():
    assert ordered_medications({}, "order-sign") == []
    assert ordered_medications({"draftOrders": "x", "selections": 3}, "order-select") == []
    odd = {"resourceType": "MedicationRequest", "dosageInstruction": "x", "performer": [1], "authoredOn": 5}
    result = ordered_medications(context(odd), "order-sign")[0]
    assert result.drug is None and result.order_ref == "MedicationRequest/#0" and result.per_week is None
    assert result.medication_reference is None and result.display == ""


def test_draft_orders_without_id_get_distinct_refs_from_full_url_or_entry_index():
    # both used to be "MedicationRequest/(no id)", so their cards shared uuids
    first, second, third = ({k: v for k, v in KETAMINE_IV.items() if k != "id"} for _ in range(3))
    ctx = context(ESKETAMINE, first, second, third, full_urls=[None, None, "urn:uuid:9b1c2d", None])
    refs = [o.order_ref for o in ordered_medications(ctx, "order-sign")]
    assert refs == ["MedicationRequest/es1", "MedicationRequest/#1", "urn:uuid:9b1c2d", "MedicationRequest/#3"]


def test_repeated_ids_still_give_distinct_refs():
    refs = [o.order_ref for o in ordered_medications(context(KETAMINE_IV, KETAMINE_IV), "order-sign")]
    assert refs == ["MedicationRequest/k1", "MedicationRequest/k1#1"]


def ketamine(dose=None, **instruction):
    result = request("k", coded("6130", "ketamine"), dose=dose)
    result["dosageInstruction"][0].update(instruction)
    return ordered_medications(context(result), "order-sign")[0]


@pytest.mark.parametrize("quantity, mg, mg_per_kg", [
    ({"value": 1500, "unit": "ug/kg", "system": UCUM, "code": "ug/kg"}, None, 1.5),
    ({"value": 500, "unit": "mcg/kg"}, None, 0.5),
    ({"value": 500, "unit": "µg/kg"}, None, 0.5),
    ({"value": 0.5, "unit": "mg/kg", "code": "mg/kg"}, None, 0.5),
    ({"value": 0.035, "unit": "g", "system": UCUM, "code": "g"}, 35, None),
    ({"value": 35000, "unit": "ug", "system": UCUM, "code": "ug"}, 35, None),
    ({"value": 35000, "unit": "mcg"}, 35, None),
    ({"value": 35, "unit": "milligrams"}, 35, None),
])
def test_ordered_dose_units_converted_to_mg_or_mg_per_kg(quantity, mg, mg_per_kg):
    result = ketamine(quantity)
    assert result.dose_mg == pytest.approx(mg) and result.dose_mg_per_kg == pytest.approx(mg_per_kg)
    assert result.dose_unknown is None


@pytest.mark.parametrize("quantity, reason", [
    ({"value": 2, "unit": "mL", "system": UCUM, "code": "mL"}, "unit 'mL' not convertible to mg or mg/kg"),
    ({"value": 0.5, "unit": "mg/kg/h", "code": "mg/kg/h"}, "unit 'mg/kg/h' not convertible to mg or mg/kg"),
    ({"value": 35}, "no dose unit"),
    ({"unit": "mg", "code": "mg"}, "no dose value"),
    ({"value": "inf", "unit": "mg"}, "dose value 'inf' is not a finite number"),
    ({"value": "NaN", "unit": "mg/kg"}, "dose value 'NaN' is not a finite number"),
    ({"value": float("nan"), "unit": "mg/kg"}, "dose value nan is not a finite number"),
    ({"value": 1e308, "unit": "g"}, "dose value too large"),
    ({"value": 0, "unit": "mg/kg"}, "dose value 0 is not above 0"),
    ({"value": -35, "unit": "mg"}, "dose value -35 is not above 0"),
    ({"value": 1, "unit": "x" * 200}, "unit '" + "x" * 20 + "... not convertible to mg or mg/kg"),
])
def test_ordered_dose_that_cannot_be_read_says_why(quantity, reason):
    result = ketamine(quantity)
    assert (result.dose_mg, result.dose_mg_per_kg, result.dose_unknown) == (None, None, reason)


def test_no_dose_given_is_not_an_unreadable_dose():
    assert ketamine().dose_unknown is None and ketamine().dose_mg is None


def test_device_count_without_strength_is_an_unreadable_dose():
    order = request("c", coded("2119365", "esketamine"), dose={"value": 2, "unit": "device"})
    result = ordered_medications(context(order), "order-sign")[0]
    assert result.dose_mg is None and result.dose_unknown == "2 dose units but no strength in the medication name"


def test_ordered_dose_range_is_checked_at_its_high_end():
    dose_range = {"low": {"value": 0.5, "unit": "mg/kg"}, "high": {"value": 1.5, "unit": "mg/kg"}}
    assert ketamine(doseAndRate=[{"doseRange": dose_range}]).dose_mg_per_kg == 1.5  # was 0.5 (low end)
    open_range = ketamine(doseAndRate=[{"doseRange": {"low": {"value": 0.5, "unit": "mg/kg"}}}])
    assert open_range.dose_mg_per_kg is None and open_range.dose_unknown == "dose range without an upper limit"
