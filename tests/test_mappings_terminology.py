"""The code tables and their loader (fhir_mappings/terminology.py, fhir_mappings/data/*.csv)."""
import time

import pytest

from fhir_mappings import terminology as t

TABLES = ("medications", "observations", "conditions", "routes", "combinations")


@pytest.mark.parametrize("table", TABLES)
def test_every_row_names_source_and_status(table):
    rows = t.rows(table)
    assert rows
    for row in rows:
        assert row["source"].strip(), row
        assert row["status"] in {"verified", "corroborated", "UNVERIFIED"}, row


@pytest.mark.parametrize("table", TABLES)
def test_one_row_per_code(table):
    keys = [(row["system"], t.normalise_code(row["system"], row["code"])) for row in t.rows(table) if row.get("code")]
    assert len(keys) == len(set(keys))


def test_every_reference_antidepressant_has_class_and_role():
    for name, rxcui in [("sertraline", "36437"), ("mirtazapine", "15996"), ("phenelzine", "8123"),
                        ("vortioxetine", "1455099"), ("milnacipran", "588250")]:
        found = t.ingredient_for_code(t.RXNORM, rxcui)
        assert found is not None and found.name == name
        assert "antidepressant" in found.roles and found.mechanism_class


def test_min_dose_lower_bound_and_empty_where_not_applicable():
    assert t.ingredient("mirtazapine").min_daily_dose_mg == 15
    assert t.ingredient("venlafaxine").min_daily_dose_mg == 75
    assert t.ingredient("milnacipran").min_daily_dose_mg is None
    assert all(row["dose_status"] == "UNVERIFIED" for row in t.rows("medications") if row["min_daily_dose_mg"])


def test_roles_of_interaction_and_augmentation_agents():
    assert t.ingredient("tranylcypromine").roles == {"antidepressant", "maoi"}
    assert "cns-depressant" in t.ingredient("midazolam").roles
    assert "psychostimulant" in t.ingredient("modafinil").roles
    assert t.ingredient("aripiprazole").roles == {"augmentation"}
    assert "antidepressant" not in t.ingredient("esketamine").roles


def test_codes_not_in_reference_are_marked_unverified():
    row = next(r for r in t.rows("medications") if r["display"] == "lorazepam")
    assert row["status"] == "UNVERIFIED" and "RxNav" in row["source"]


def test_icd10_with_and_without_dot_and_prefix_families():
    assert t.condition_categories(t.ICD10CM, "F31.81") == {"bipolar"}
    assert t.condition_categories(t.ICD10CM, "F3181") == {"bipolar"}
    assert t.condition_categories(t.ICD10CM, "i71.4") == {"aneurysm"}
    assert t.condition_categories(t.ICD10CM, "I69.151") == {"intracerebral-hemorrhage"}
    assert t.condition_categories(t.ICD10CM, "F11.20") == {"substance-use"}
    assert t.condition_categories(t.ICD10CM, "Z3A.20") == {"pregnancy"}
    assert t.condition_categories(t.ICD10CM, "O9A.111") == {"pregnancy"}


def test_exact_codes_do_not_act_as_prefixes():
    assert t.condition_categories(t.ICD10CM, "F32.3") == {"mdd", "mdd-psychotic"}
    assert t.condition_categories(t.ICD10CM, "F32.81") == frozenset()  # F32.8x is not MDD
    assert t.condition_categories(t.ICD10CM, "F17.210") == frozenset()  # nicotine left out
    assert t.condition_categories(t.SNOMED, "F31") == frozenset()  # system must match


def test_text_matching_is_whole_word():
    assert t.ingredient_in_text("esketamine 28 MG nasal").name == "esketamine"
    assert t.ingredient_in_text("Ketamine HCl 50 mg/mL").name == "ketamine"
    assert t.ingredient_in_text("SPRAVATO 56 mg").name == "esketamine"
    assert t.ingredient_in_text("atorvastatin 20 MG") is None


def test_scale_text_keeps_hamilton_anxiety_out():
    assert t.scale_in_text("Montgomery-Asberg Depression Rating Scale") == "MADRS"
    assert t.scale_in_text("HAM-D17 total") == "HAM-D"
    assert t.scale_in_text("Hamilton Anxiety Rating Scale total") is None
    assert t.scale_in_text("PHQ-9 total") is None  # PHQ-9 by LOINC code only (decision-rules §2.4)


def test_ndc_product_codes_in_10_and_11_digit_forms():
    for code in ("50458-028-02", "5045802803", "50458-0028-02"):
        assert t.ingredient_for_code(t.NDC, code).name == "esketamine"
    assert t.ingredient_for_code(t.NDC, "50458-029-01") is None


def test_routes_by_code_and_text():
    assert t.route_for(t.SNOMED, "47625008") == "intravenous"
    assert t.route_in_text("Intranasal") == "nasal"
    assert t.route_in_text("IV infusion") == "intravenous"
    assert t.route_in_text("ivermectin") is None


def test_text_exclusion_is_searched_once_not_once_per_match():
    # "Hamilton" x 22 000 then "anxiety": the exclusion was searched over the whole text per match
    started = time.thread_time()  # CPU seconds of this thread, not the machine's load
    assert t.scale_in_text("Hamilton " * 22_000 + "anxiety") is None
    assert time.thread_time() - started < 1.0


@pytest.mark.parametrize("code, categories", [
    ("F10.10", {"substance-use"}), ("F12.90", {"substance-use"}), ("F11.21", {"substance-use"}),
    ("F17.200", set()), ("F17.10", set()),  # nicotine is never substance-use (decision-rules §7 v2)
    ("O90.6", set()), ("O85", set()), ("O92.5", set()),  # puerperium is not pregnancy (§7 v2)
    ("O99.340", {"pregnancy"}), ("O80", {"pregnancy"}), ("O26.891", {"pregnancy"}),
    ("Z39.1", {"lactation"}),
    ("K72.10", {"hepatic-failure"}), ("K70.41", {"hepatic-failure"}), ("K74.60", {"cirrhosis"}),
    ("K70.31", {"cirrhosis", "hepatic-decompensation"}), ("K70.30", {"cirrhosis"}), ("R18.8", {"hepatic-decompensation"}),
    ("I10", {"hypertension"}), ("I16.0", {"hypertension"}), ("I25.10", {"cardiovascular"}), ("I50.9", {"cardiovascular"}),
    ("I67.4", {"cardiovascular"}), ("I63.9", {"cardiovascular"}),
    ("I67.1", {"aneurysm"}), ("I69.151", {"intracerebral-hemorrhage"}),  # §3 items stay contraindications only
    ("G47.33", {"respiratory"}), ("J44.9", {"respiratory"}), ("J96.10", {"respiratory"}),
])
def test_v2_condition_categories(code, categories):
    assert t.condition_categories(t.ICD10CM, code) == categories


def test_mood_stabilizers_have_their_role_and_do_not_count_as_trials():
    for name in ("lithium", "quetiapine", "valproic acid", "lamotrigine", "carbamazepine", "lurasidone", "cariprazine"):
        assert "mood-stabilizer" in t.ingredient(name).roles, name
        assert "antidepressant" not in t.ingredient(name).roles
    assert t.ingredient_in_text("divalproex sodium 500 MG").name == "valproic acid"


def test_breastfeeding_status_and_answers():
    assert t.observation_names("http://loinc.org", "63895-7") == (("status", "breastfeeding"),)
    assert t.observation_names("http://loinc.org", "LA29252-6") == (("answer", "breastfeeding"),)


@pytest.mark.parametrize("text, name", [
    ("Zoloft 100 mg tablet", "sertraline"), ("LEXAPRO 10 MG TABLET", "escitalopram"),
    ("Wellbutrin XL 300 mg", "bupropion"), ("Effexor XR 150 mg capsule", "venlafaxine"),
    ("Cymbalta 60mg", "duloxetine"), ("Prozac", "fluoxetine"), ("Trintellix 10 mg", "vortioxetine"),
    ("Remeron 30 mg", "mirtazapine"),
    ("KETALAR 50 MG/ML INJECTION SOLUTION", "ketamine"), ("KETAMINE HCL 500MG/10ML", "ketamine"),
    ("KETAMINEHCL 10 MG/ML INJ", "ketamine"), ("ketamine hydrochloride", "ketamine"),
    ("S-ketamine 28 mg nasal", "esketamine"), ("(S)-ketamine nasal spray", "esketamine"),
    ("esketamine hydrochloride", "esketamine"), ("Spravato 56 mg kit", "esketamine"),
    ("Auvelity 45-105 mg ER tablet", "dextromethorphan-bupropion"),
    ("bupropion hydrochloride 105 MG / dextromethorphan hydrobromide 45 MG Extended Release Oral Tablet",
     "dextromethorphan-bupropion"),
    ("olanzapine 6 MG / fluoxetine 25 MG Oral Capsule", "fluoxetine"), ("Symbyax 6/25", "fluoxetine"),
    ("olanzapine 10 MG Oral Tablet", "olanzapine"), ("bupropion 150 MG", "bupropion"),
])
def test_brand_local_and_combination_names_map_to_their_ingredient(text, name):
    assert t.ingredient_in_text(text).name == name


def test_auvelity_is_its_own_antidepressant_dosed_by_its_dextromethorphan():
    auvelity = t.ingredient_for_code(t.RXNORM, "2611260")
    assert auvelity.name == "dextromethorphan-bupropion" and "antidepressant" in auvelity.roles
    assert (auvelity.mechanism_class, auvelity.min_daily_dose_mg, auvelity.dose_name) == (
        "NMDA antagonist + NDRI", 90, "dextromethorphan")



@pytest.mark.parametrize("text, instrument", [
    ("HAM-D 17 total", "HAM-D"), ("Hamilton Depression Rating Scale total score", "HAM-D"), ("MADRS total", "MADRS"),
    ("HAM-D item 1: depressed mood", None), ("MADRS question 3 - inner tension", None),
    ("Hamilton Anxiety Rating Scale", None),
])
def test_survey_items_are_not_read_as_scale_totals(text, instrument):
    """The surveys key brings every survey answer (decision-rules §2.9 v2); only totals are scores."""
    assert t.scale_in_text(text) == instrument
