"""The draft orders ``trd-cds invoke --order`` can send (a light module: the parser needs the names)."""
from __future__ import annotations

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
NASAL = {"system": SNOMED, "code": "46713006", "display": "Nasal route"}
INTRAVENOUS = {"system": SNOMED, "code": "47625008", "display": "Intravenous route"}
TWICE_WEEKLY = {"frequency": 2, "period": 1, "periodUnit": "wk"}
# name → (RxNorm ingredient code, display, route, dose value, UCUM unit, timing.repeat)
ORDERS = {
    **{f"esketamine-{mg}mg": ("2119365", f"esketamine {mg} mg nasal spray", NASAL, mg, "mg", TWICE_WEEKLY)
       for mg in (28, 56, 84)},
    "ketamine-iv": ("6130", "ketamine 35 mg IV infusion over 40 min", INTRAVENOUS, 35, "mg",
                    TWICE_WEEKLY | {"duration": 40, "durationUnit": "min"}),
    "ketamine-iv-mgkg": ("6130", "ketamine 0.5 mg/kg IV infusion over 40 min", INTRAVENOUS, 0.5, "mg/kg",
                         TWICE_WEEKLY | {"duration": 40, "durationUnit": "min"}),
}
