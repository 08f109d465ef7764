"""MedicationStatement / MedicationRequest → MedicationExposure, and the dose arithmetic."""
import time
from datetime import date

import pytest

from fhir_mappings.dosage import daily_dose_mg, per_day, strength_mg
from fhir_mappings.medications import medication_exposure

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def rx(code, display):
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def dosage(value, unit, code=None, frequency=1, period=1, period_unit="d", **extra):
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": code or unit}
    return {"timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}},
            "doseAndRate": [{"doseQuantity": quantity}], **extra}


def statement(**fields):
    base = {"resourceType": "MedicationStatement", "id": "ms1", "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": rx("36437", "sertraline"),
            "effectivePeriod": {"start": "2025-01-10", "end": "2025-03-01T09:00:00-05:00"},
            "dosage": [dosage(100, "mg")]}
    return {**base, **fields}


def test_statement_with_ingredient_code_and_mg_dose():
    exposure = medication_exposure(statement())
    assert exposure.source == "MedicationStatement/ms1"
    assert (exposure.ingredient, exposure.rxcui, exposure.mechanism_class) == ("sertraline", "36437", "SSRI")
    assert exposure.roles == {"antidepressant"}
    assert (exposure.start, exposure.end) == (date(2025, 1, 10), date(2025, 3, 1))
    assert exposure.daily_dose_mg == 100
    assert exposure.unknown == ()


def test_tablet_dose_takes_strength_from_clinical_drug_name():
    scd = rx("312940", "sertraline 100 MG Oral Tablet")
    exposure = medication_exposure(statement(medicationCodeableConcept=scd, dosage=[dosage(1, "tablet", "{tbl}")]))
    assert exposure.ingredient == "sertraline"  # SCD code unknown: found by name
    assert exposure.daily_dose_mg == 100


def test_bid_timing_code_doubles_the_dose():
    bid = {"timing": {"code": {"coding": [{"code": "BID"}]}},
           "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "TAB"}}]}
    concept = rx("1", "venlafaxine 37.5 MG Oral Tablet")
    exposure = medication_exposure(statement(medicationCodeableConcept=concept, dosage=[bid]))
    assert exposure.daily_dose_mg == 150


@pytest.mark.parametrize("value, unit, expected", [(0.1, "g", 100), (50000, "mcg", 50), (50, "mg", 50)])
def test_mass_units_converted_to_mg(value, unit, expected):
    assert medication_exposure(statement(dosage=[dosage(value, unit)])).daily_dose_mg == pytest.approx(expected)


def test_unconvertible_unit_keeps_record_with_reason():
    exposure = medication_exposure(statement(dosage=[dosage(2, "puff")]))
    assert exposure.ingredient == "sertraline" and exposure.daily_dose_mg is None
    assert exposure.unknown == ("dose: unit 'puff' not convertible",)


def test_tablets_without_strength_in_name_are_unknown():
    exposure = medication_exposure(statement(dosage=[dosage(1, "tablet")]))
    assert exposure.daily_dose_mg is None
    assert exposure.unknown[0].startswith("dose: 1 dose units but no strength")


def test_dosage_text_parsed_when_simple():
    exposure = medication_exposure(statement(dosage=[{"text": "Take 150 mg by mouth twice daily"}]))
    assert exposure.daily_dose_mg == 300
    split = medication_exposure(statement(dosage=[{"text": "50 mg in the morning, 100 mg at night"}]))
    assert split.daily_dose_mg is None and split.unknown == ("dose: no dose quantity",)


def test_dose_without_frequency_is_unknown():
    exposure = medication_exposure(statement(dosage=[{"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}]}]))
    assert exposure.daily_dose_mg is None and exposure.unknown == ("dose: no frequency",)


def test_active_statement_has_no_end_and_missing_start_is_reported():
    exposure = medication_exposure(statement(status="active", effectivePeriod={"end": "2025-02-01"}))
    assert exposure.end is None and exposure.start is None
    assert exposure.unknown == ("start: not documented",)


def test_partial_and_missing_dates_are_kept_as_unknown():
    exposure = medication_exposure(statement(effectivePeriod={"start": "2024-05"}))
    assert exposure.start == date(2024, 5, 1)
    assert exposure.unknown == ("start: partial date '2024-05'", "end: not documented")


@pytest.mark.parametrize("status", ["entered-in-error", "not-taken", "cancelled", "draft", "intended"])
def test_ignored_statuses(status):
    assert medication_exposure(statement(status=status)) is None


@pytest.mark.parametrize("status", ["unknown", None, 42])
def test_other_statuses_kept_with_reason(status):
    exposure = medication_exposure(statement(status=status))
    assert exposure is not None and exposure.unknown[0].startswith("status:")


def test_other_named_drugs_are_dropped_but_bare_unknown_codes_kept():
    assert medication_exposure(statement(medicationCodeableConcept=rx("83367", "atorvastatin"))) is None
    bare = medication_exposure(statement(medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "999"}]}))
    assert bare.ingredient is None and "medication: code 999 not in the table and no name" in bare.unknown


def test_contained_medication_and_unresolved_reference():
    contained = statement(medicationCodeableConcept=None, medicationReference={"reference": "#m1"},
                          contained=[{"resourceType": "Medication", "id": "m1", "code": rx("72625", "duloxetine")}])
    del contained["medicationCodeableConcept"]
    assert medication_exposure(contained).ingredient == "duloxetine"
    missing = {**contained, "medicationReference": {"reference": "Medication/404"}}
    exposure = medication_exposure(missing)
    assert exposure.ingredient is None and "medication: reference 'Medication/404' not resolved" in exposure.unknown
    assert exposure.unidentified_as == "Medication/404"  # records of one reference are one medicine (§2.9)
    bare = statement(medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "999999"}]})
    assert medication_exposure(bare).unidentified_as == f"{RXNORM}|999999"
    assert medication_exposure(statement(medicationCodeableConcept={})).unidentified_as is None
    local = {**missing, "medicationReference": {"reference": "#gone"}}
    assert medication_exposure(local).unidentified_as is None  # "#id" is local to each resource
    known = {"Medication/404": {"resourceType": "Medication", "id": "404", "code": rx("4493", "fluoxetine")}}
    assert medication_exposure(missing, known).ingredient == "fluoxetine"


def test_medication_request_dates_and_dosage_instruction():
    request = {"resourceType": "MedicationRequest", "id": "mr1", "status": "stopped", "intent": "order",
               "medicationCodeableConcept": rx("321988", "escitalopram"), "authoredOn": "2024-11-02",
               "dispenseRequest": {"validityPeriod": {"end": "2025-01-15"}},
               "dosageInstruction": [dosage(10, "mg")]}
    exposure = medication_exposure(request)
    assert (exposure.start, exposure.end, exposure.daily_dose_mg) == (date(2024, 11, 2), date(2025, 1, 15), 10)
    active = medication_exposure({**request, "status": "active"})
    assert active.end is None and active.unknown == ()


def test_odd_input_never_raises():
    for odd in (None, {}, {"resourceType": "MedicationStatement", "dosage": "x", "effectivePeriod": []},
                {"resourceType": "MedicationRequest", "status": "active", "medicationCodeableConcept": "sertraline",
                 "dosageInstruction": [None, 3], "authoredOn": "yesterday"}):
        exposure = medication_exposure(odd)
        assert exposure is not None and exposure.unknown


def test_strength_prefers_the_ingredient_and_ignores_concentrations():
    name = "bupropion hydrochloride 105 MG / dextromethorphan hydrobromide 45 MG Extended Release Oral Tablet"
    assert strength_mg(name, "dextromethorphan") == 45
    assert strength_mg(name, "bupropion") == 105
    assert strength_mg(name) is None
    assert strength_mg("0.2 ML esketamine 140 MG/ML Nasal Spray", "esketamine") is None


@pytest.mark.parametrize("timing, expected", [
    ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, 2),
    ({"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}, 2),
    ({"repeat": {"frequency": 3, "period": 1, "periodUnit": "wk"}}, 3 / 7),
    ({"repeat": {"when": ["MORN", "EVE"]}}, 2),
    ({"code": {"coding": [{"code": "Q12H"}]}}, 2),
    ({"code": {"text": "tid"}}, 3),
    ({"repeat": {"frequency": 1, "period": 0, "periodUnit": "d"}}, None),
    ("daily", None),
])
def test_per_day(timing, expected):
    assert per_day(timing) == (pytest.approx(expected) if expected else None)


def test_concurrent_dosages_sum_and_sequential_take_the_highest():
    morning, evening = dosage(50, "mg", sequence=1), dosage(100, "mg", sequence=1)
    assert daily_dose_mg([morning, evening], "sertraline", "sertraline")[0] == 150
    titration = [dosage(50, "mg", sequence=1), dosage(100, "mg", sequence=2)]
    assert daily_dose_mg(titration, "sertraline", "sertraline")[0] == 100


def test_statement_with_only_effective_datetime_has_unknown_duration():
    exposure = medication_exposure(statement(effectivePeriod=None, effectiveDateTime="2025-01-20"))
    assert (exposure.start, exposure.end) == (date(2025, 1, 20), None)
    assert exposure.unknown == ("end: not documented",)


def _seconds(call, *args):
    """CPU seconds of this thread: what the pattern costs, whatever else the machine is running."""
    started = time.thread_time()
    call(*args)
    return time.thread_time() - started


@pytest.mark.parametrize("free_text", ["1" * 200_000, "1 " * 100_000, "1." * 100_000, ("1" + " " * 99) * 2_000])
def test_strength_and_dosage_text_take_linear_time_on_long_digit_runs(free_text):
    # the unbounded strength pattern took ~15 s on 15 000 digits (quadratic backtracking)
    assert _seconds(strength_mg, free_text, "ketamine") < 1.0
    assert _seconds(daily_dose_mg, [{"text": free_text}], "sertraline", "sertraline") < 1.0


def test_bounded_strength_pattern_keeps_the_readings():
    assert strength_mg("ketamine 0.5 mg") == 0.5
    assert strength_mg("esketamine 28 mg nasal spray") == 28.0
    assert strength_mg("sertraline 1234567 MG Oral Tablet") == 1234567.0
    assert strength_mg("x 12345678 mg") is None  # more than 7 digits: not a strength
    assert strength_mg(".5 mg") is None  # was read as 5 mg


def test_history_dose_range_keeps_its_low_end():
    # documented rule (dosage.dose_quantity): history reads doseRange.low, orders read doseRange.high
    dose_range = {"low": {"value": 50, "unit": "mg"}, "high": {"value": 200, "unit": "mg"}}
    daily, reasons = daily_dose_mg([{"timing": {"code": {"text": "QD"}}, "doseAndRate": [{"doseRange": dose_range}]}],
                                   "sertraline", "sertraline")
    assert (daily, reasons) == (50.0, ())


def _refill(authored, supply=None, repeats=None, validity_end=None):
    dispense = {}
    if supply is not None:
        dispense["expectedSupplyDuration"] = {"value": supply[0], "unit": supply[1], "system": UCUM,
                                              "code": supply[1]}
    if repeats is not None:
        dispense["numberOfRepeatsAllowed"] = repeats
    if validity_end:
        dispense["validityPeriod"] = {"end": validity_end}
    return {"resourceType": "MedicationRequest", "id": f"mr-{authored}", "status": "completed",
            "intent": "order", "medicationCodeableConcept": rx("36437", "sertraline 100 MG Oral Tablet"),
            "authoredOn": authored, "dispenseRequest": dispense, "dosageInstruction": [dosage(100, "mg")]}


@pytest.mark.parametrize("dispense, end", [
    ({"supply": (30, "d")}, date(2026, 3, 3)),
    ({"supply": (30, "d"), "repeats": 2}, date(2026, 5, 2)),
    ({"supply": (4, "wk")}, date(2026, 3, 1)),
    ({"supply": (30, "d"), "validity_end": "2026-02-10"}, date(2026, 2, 10)),  # validity end wins
    ({"supply": (0, "d")}, None), ({"supply": (30, "furlongs")}, None), ({}, None),
])
def test_a_request_without_an_end_lasts_its_supply(dispense, end):
    exposure = medication_exposure(_refill("2026-02-01", **dispense))
    assert (exposure.start, exposure.end) == (date(2026, 2, 1), end)
    assert ("end: not documented" in exposure.unknown) == (end is None)


@pytest.mark.parametrize("concept, ingredient, daily", [
    ({"coding": [{"system": "urn:oid:1.2.3.local", "code": "AUV-1"}],
      "text": "bupropion hydrochloride 105 MG / dextromethorphan hydrobromide 45 MG Extended Release Oral Tablet"},
     "dextromethorphan-bupropion", 90),
    # Auvelity by brand: its one marketed strength (data/strengths.csv), 45 mg dextromethorphan a tablet
    (rx("2611260", "Auvelity"), "dextromethorphan-bupropion", 90),
    ({"text": "AUVELITY"}, "dextromethorphan-bupropion", 90),
    ({"text": "Auvelity 45 mg-105 mg ER tablet"}, "dextromethorphan-bupropion", 90),
    ({"coding": [{"system": RXNORM, "code": "2611260"}], "text": "Auvelity 45 mg-105 mg ER tablet"},
     "dextromethorphan-bupropion", 90),
    ({"text": "olanzapine 6 MG / fluoxetine 25 MG Oral Capsule"}, "fluoxetine", 50),
])
def test_combination_products_count_by_their_antidepressant_component(concept, ingredient, daily):
    tablets = {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "code": "TAB"}}]}
    exposure = medication_exposure(statement(medicationCodeableConcept=concept, dosage=[tablets]))
    assert (exposure.ingredient, exposure.daily_dose_mg) == (ingredient, daily)


def test_an_absolute_medication_reference_resolves_by_its_type_and_id():
    record = {key: value for key, value in statement().items() if key != "medicationCodeableConcept"}
    record["medicationReference"] = {"reference": "https://ehr.example.org/fhir/Medication/m9"}
    known = {"Medication/m9": {"resourceType": "Medication", "id": "m9", "code": rx("4493", "fluoxetine")}}
    assert medication_exposure(record, known).ingredient == "fluoxetine"
    assert medication_exposure(record).ingredient is None


def test_a_single_strength_product_needs_its_strength_among_those_the_name_gives():
    assert strength_mg("Auvelity 45 mg-105 mg ER tablet", "dextromethorphan", only=45.0) == 45.0
    assert strength_mg("AUVELITY", "dextromethorphan", only=45.0) == 45.0
    assert strength_mg("Auvelity 30 mg-60 mg", "dextromethorphan", only=45.0) is None  # not its strength
    assert strength_mg("Auvelity 105 mg", "dextromethorphan", only=45.0) is None  # the bupropion strength
    assert strength_mg("dextromethorphan 30 mg / bupropion 60 mg", "dextromethorphan", only=45.0) == 30.0
    assert strength_mg("Auvelity 45 mg-105 mg ER tablet", "dextromethorphan") is None
