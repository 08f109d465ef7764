"""Labeled contraindications (decision-rules.md §3, topic ``contraindication``).

Vascular items count with any clinical status ("any history of"), so a resolved record still
shows, with its status, and the card offers "Condition resolved / entered in error".
"""
from __future__ import annotations

from fhir_mappings.records import OrderedMedication, PatientRecord
from hooks.cards import Finding, Item, md, merge_items
from hooks.facts import condition_text, conditions_in

VASCULAR = {  # conditions.csv categories → label wording (SPRAVATO US label, Contraindications)
    "aneurysm": "aneurysmal vascular disease",
    "avm": "arteriovenous malformation",
    "intracerebral-hemorrhage": "history of intracerebral hemorrhage",
}
HYPERSENSITIVITY_SUBSTANCES = frozenset({"esketamine", "ketamine"})

ESKETAMINE_INTRO = ("SPRAVATO is contraindicated in aneurysmal vascular disease (aorta, intracranial and "
                    "peripheral arteries), arteriovenous malformation, history of intracerebral hemorrhage "
                    "and hypersensitivity to esketamine, ketamine or an excipient (US label).")
KETAMINE_INTRO = ("These are the SPRAVATO (esketamine) label contraindications applied to ketamine: "
                  "hypersensitivity is critical; for IV ketamine the vascular items are warnings because "
                  "the blood pressure rise during the infusion is a serious hazard.")


def contraindication_finding(order: OrderedMedication, patient: PatientRecord,
                             unavailable: frozenset[str]) -> Finding | None:
    """Critical for esketamine; for ketamine critical on hypersensitivity, warning on vascular items."""
    items = []
    if "conditions" not in unavailable:
        vascular_indicator = "critical" if order.drug == "esketamine" else "warning"
        for category, condition in conditions_in(patient, VASCULAR, active_only=False):
            items.append(Item(vascular_indicator, f"Contraindication: {VASCULAR[category]} documented",
                              md(condition_text(VASCULAR[category], condition))))
    if "allergies" not in unavailable:
        for allergy in patient.allergies:
            if allergy.active and allergy.substance in HYPERSENSITIVITY_SUBSTANCES:
                items.append(Item("critical", f"Contraindication: hypersensitivity to {allergy.substance}",
                                  md(f"hypersensitivity to {allergy.substance}: {allergy.display} ({allergy.source})")))
    intro = ESKETAMINE_INTRO if order.drug == "esketamine" else KETAMINE_INTRO
    return merge_items("contraindication", items, "label", intro)
