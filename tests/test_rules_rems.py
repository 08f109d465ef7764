"""decision-rules.md §4: SPRAVATO REMS prerequisites (esketamine only)."""
from __future__ import annotations

from dataclasses import replace

from hooks.policy import Policy
from hooks.rems import ENROLMENT_REQUEST, MONITORING_FORM, rems_finding
from test_rules_records import order, patient

CERTIFIED = "Location/clinic-1"
POLICY = replace(Policy(), rems_certified_settings=(CERTIFIED,))
ENROLLED = frozenset({POLICY.rems_patient_id_system})


def rems(the_patient, policy=POLICY, unavailable=frozenset(), the_order=None):
    return rems_finding(the_order or order("esketamine"), the_patient, policy, unavailable)


def test_enrolled_patient_in_a_certified_setting_gives_info_with_session_requirements():
    finding = rems(patient(identifier_systems=ENROLLED, encounter_class="AMB", encounter_location=CERTIFIED))
    assert finding.indicator == "info"
    assert "pulse oximetry" in finding.detail and MONITORING_FORM in finding.detail


def test_missing_enrolment_in_an_outpatient_setting_is_a_warning_with_a_follow_up():
    finding = rems(patient(encounter_class="AMB", encounter_location=CERTIFIED))
    assert finding.indicator == "warning"
    assert "patient enrolment missing" in finding.summary
    assert finding.request == ENROLMENT_REQUEST


def test_inpatient_encounters_need_no_enrolment_nor_monitoring_form():
    finding = rems(patient(encounter_class="IMP", encounter_location=CERTIFIED))
    assert finding.indicator == "info"
    assert MONITORING_FORM not in finding.detail


def test_the_order_performer_can_be_the_certified_setting():
    finding = rems(patient(identifier_systems=ENROLLED), the_order=order("esketamine", performer=CERTIFIED))
    assert finding.indicator == "info"


def test_without_configured_certified_settings_the_card_asks_to_confirm():
    finding = rems(patient(identifier_systems=ENROLLED, encounter_location=CERTIFIED), policy=Policy())
    assert finding.indicator == "warning"
    assert "setting certification unknown" in finding.summary


def test_a_setting_not_in_the_list_is_missing():
    finding = rems(patient(identifier_systems=ENROLLED, encounter_location="Location/other"))
    assert "setting certification missing" in finding.summary


def test_unread_patient_and_encounter_are_unknown_not_missing():
    finding = rems(patient(), unavailable=frozenset({"patient", "encounter"}))
    assert "patient enrolment unknown; setting certification unknown" in finding.summary
    assert finding.request is None


def test_no_rems_card_for_ketamine():
    assert rems(patient(), the_order=order("ketamine")) is None


def test_inpatient_card_says_enrolment_not_required_not_documented():
    finding = rems(patient(encounter_class="IMP", encounter_location=CERTIFIED))
    assert finding.summary == ("SPRAVATO REMS: patient enrolment not required (inpatient/emergency encounter); "
                               "certified setting documented")
    assert "- **Patient enrolment**: not required: inpatient/emergency encounter (encounter class IMP)" \
        in finding.detail
    assert "enrolment documented" not in finding.summary + finding.detail


def test_inpatient_non_acute_encounter_is_exempt_from_enrolment():  # v3 ActCode NONAC
    finding = rems(patient(encounter_class="NONAC", encounter_location=CERTIFIED))
    assert finding.indicator == "info" and "not required" in finding.summary
    assert finding.request is None and MONITORING_FORM not in finding.detail


def test_inpatient_with_an_uncertified_setting_still_warns_about_the_setting_only():
    finding = rems(patient(encounter_class="EMER", encounter_location="Location/other"))
    assert finding.summary == "SPRAVATO REMS: setting certification missing: confirm before the session"
