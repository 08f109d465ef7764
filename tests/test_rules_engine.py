"""hooks.engine.advise: scope, ordering, unavailable data and determinism."""
from __future__ import annotations

from dataclasses import replace

from hooks import Policy, advise, in_scope
from test_rules_records import TODAY, condition, days_ago, measurement, order, patient, trials

POLICY = Policy()


def topics(cards):
    return [(card["source"]["topic"]["code"], card["indicator"]) for card in cards]


def test_in_scope_keeps_esketamine_and_ketamine_orders_only():
    orders = [order("esketamine"), replace(order("ketamine"), drug=None), order("ketamine")]
    assert in_scope(orders) == [orders[0], orders[2]]


def test_no_in_scope_order_gives_no_cards():
    assert advise([replace(order(), drug=None)], patient(), POLICY, TODAY) == []


def test_cards_are_ordered_by_indicator_then_topic():
    the_patient = patient(conditions=(condition("aneurysm"), condition("pregnancy"), condition("bipolar")),
                          measurements=(measurement("systolic", 120, days_ago(200)),))
    assert topics(advise([order("esketamine", dose_mg=112.0)], the_patient, POLICY, TODAY)) == [
        ("contraindication", "critical"), ("dose-check", "critical"),
        ("diagnosis-caution", "warning"), ("pregnancy", "warning"), ("rems-prerequisites", "warning"),
        ("trd-criteria-not-met", "warning"), ("blood-pressure", "info")]


def test_one_trd_card_per_response_and_order_cards_name_their_order():
    orders = [replace(order("esketamine", order_ref="MedicationRequest/a"), display="Spravato 56 mg"),
              replace(order("esketamine", order_ref="MedicationRequest/b"), display="Spravato 84 mg")]
    cards = advise(orders, patient(), POLICY, TODAY, seed="s")
    codes = [card["source"]["topic"]["code"] for card in cards]
    assert codes.count("trd-criteria-not-met") == 1  # §0 v2: TRD is about the patient
    rems = [card for card in cards if card["source"]["topic"]["code"] == "rems-prerequisites"]
    assert len(rems) == 2 and rems[0]["uuid"] != rems[1]["uuid"]
    assert {card["detail"].split("\n")[0] for card in rems} == {
        "**Order:** Spravato 56 mg (MedicationRequest/a)", "**Order:** Spravato 84 mg (MedicationRequest/b)"}
    single = advise(orders[:1], patient(), POLICY, TODAY, seed="s")  # named in a one-order call too
    assert {card["source"]["topic"]["code"]: card["detail"].split("\n")[0] for card in single
            if card["detail"].startswith("**Order:**")} == {
        "rems-prerequisites": "**Order:** Spravato 56 mg (MedicationRequest/a)"}
    unnamed = advise([replace(orders[0], display="")], patient(), POLICY, TODAY, seed="s")
    assert "**Order:** MedicationRequest/a\n" in next(card["detail"] for card in unnamed
                                                      if card["source"]["topic"]["code"] == "rems-prerequisites")


def test_bipolar_disorder_makes_the_trd_card_at_least_a_warning():
    meds, scores = trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", "NDRI", days_ago(200)))
    for status in ("active", "remission", "inactive"):
        bipolar = replace(condition("bipolar"), clinical_status=status)
        cards = advise([order()], patient(medications=meds, scores=scores, conditions=(bipolar,)), POLICY, TODAY)
        trd = next(card for card in cards if card["source"]["topic"]["code"] == "trd-criteria-met")
        assert trd["indicator"] == "warning" and trd["overrideReasons"]
        assert trd["summary"] == ("TRD criteria met (2 confirmed); bipolar disorder documented: "
                                  "TRD criteria apply to MDD")
    plain = advise([order()], patient(medications=meds, scores=scores), POLICY, TODAY)
    assert ("trd-criteria-met", "info") in topics(plain)


def test_the_order_date_anchors_the_trd_lookback():
    meds, scores = trials(("sertraline", "SSRI", days_ago(1000)), ("bupropion", "NDRI", days_ago(900)))
    the_patient = patient(medications=meds, scores=scores)
    met_then = advise([order(authored=days_ago(400))], the_patient, POLICY, TODAY)
    not_met_now = advise([order()], the_patient, POLICY, TODAY)
    assert ("trd-criteria-met", "info") in topics(met_then)
    assert ("trd-criteria-not-met", "warning") in topics(not_met_now)


def test_unread_conditions_give_a_data_unavailable_card_and_no_condition_verdicts():
    the_patient = patient(conditions=(condition("aneurysm"), condition("pregnancy")))
    cards = advise([order()], the_patient, POLICY, TODAY, frozenset({"conditions", "bloodPressure"}))
    found = topics(cards)
    assert ("data-unavailable", "warning") in found
    assert not {"contraindication", "pregnancy", "blood-pressure"} & {topic for topic, _ in found}
    unavailable = next(card for card in cards if card["source"]["topic"]["code"] == "data-unavailable")
    assert "**bloodPressure**" in unavailable["detail"] and "**conditions**" in unavailable["detail"]
    assert unavailable["summary"] == "Not fully checked, data not read: bloodPressure, conditions"


def test_partly_read_data_still_reports_what_was_read():
    the_patient = patient(conditions=(condition("aneurysm"),))
    cards = advise([order()], the_patient, POLICY, TODAY, partial=frozenset({"conditions"}))
    assert ("contraindication", "critical") in topics(cards)
    unavailable = next(card for card in cards if card["source"]["topic"]["code"] == "data-unavailable")
    assert unavailable["summary"] == "Not fully checked, data read in part: conditions"
    assert "read only in part" in unavailable["detail"]


def test_unread_and_partly_read_keys_are_named_apart():
    cards = advise([order()], patient(), POLICY, TODAY, frozenset({"allergies"}), partial=frozenset({"conditions"}))
    unavailable = next(card for card in cards if card["source"]["topic"]["code"] == "data-unavailable")
    assert unavailable["summary"] == "Not fully checked, data not read: allergies; read in part: conditions"


def test_unread_weight_is_named_for_ketamine_and_ignored_for_esketamine():
    unavailable = frozenset({"weight"})
    ketamine = advise([order("ketamine", dose_mg=35.0)], patient(), POLICY, TODAY, unavailable)
    esketamine = advise([order("esketamine")], patient(), POLICY, TODAY, unavailable)
    assert "data-unavailable" in [topic for topic, _ in topics(ketamine)]
    assert "dose-check" not in [topic for topic, _ in topics(ketamine)]
    assert "data-unavailable" not in [topic for topic, _ in topics(esketamine)]


def test_same_input_gives_the_same_cards_whatever_the_record_order():
    meds, scores = trials(("sertraline", "SSRI", days_ago(400)), ("bupropion", "NDRI", days_ago(200)))
    conditions = (condition("bipolar"), condition("bipolar", display="bipolar II"), condition("psychosis"))
    forward = patient(medications=meds, scores=scores, conditions=conditions)
    backward = patient(medications=meds[::-1], scores=scores[::-1], conditions=conditions[::-1])
    first = advise([order()], forward, POLICY, TODAY, seed="h")
    assert first == advise([order()], forward, POLICY, TODAY, seed="h")
    assert first == advise([order()], backward, POLICY, TODAY, seed="h")


def test_a_reading_taken_after_the_order_was_authored_counts():
    later_bp = (measurement("systolic", 152, days_ago(-5)), measurement("diastolic", 94, days_ago(-5)))
    cards = advise([order(authored=TODAY)], patient(measurements=later_bp), POLICY, TODAY)
    assert ("blood-pressure", "warning") in topics(cards)
