"""A CDS Hooks test oracle built from HL7's own files, not from our code.

Structure comes from the logical models in ``tests/data/hl7-cds-hooks/models`` (vendored) (FHIR/fhir-tools-ig),
with the FSH logicals of HL7/cds-hooks for what those lack (the CDSHooksFeedback model, stricter
cardinalities); rules come from the FSH invariants (FHIRPath, run with fhirpathpy) and from the
constraints inside the StructureDefinitions. See the folder's README.md and ../shared/spec/cds-hooks.md §4.

    check(document, "CDSHooksResponse", allow=()) -> list of problems (empty when valid)
"""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

import fhirpathpy

# Vendored copy of ../shared/data/hl7-cds-hooks (licences and provenance in its README), so the suite
# runs from any clone.
HL7 = Path(os.environ.get("HL7_CDS_HOOKS_DIR", Path(__file__).resolve().parent / "data" / "hl7-cds-hooks"))
TOOLS = "http://hl7.org/fhir/tools/StructureDefinition/"
# The ValueSet resources are not in the folder; the allowed codes are those the FSH element text lists:
# CDSHooksResponse.fsh "info, warning, critical - Urgency/importance", "Allowed values are: create, update,
# delete", "at-most-one | any", "absolute | smart".
VALUE_SETS = {"CDSIndicator": {"info", "warning", "critical"}, "CDSActionType": {"create", "update", "delete"},
              "CDSSelectionBehavior": {"at-most-one", "any"}, "CDSLinkType": {"absolute", "smart"}}
# CDS Hooks' own Coding (spec §1.5): code and system required, display conditional (cds-resp-4).
CODING = {"code": 1, "system": 1, "display": 0, "version": 0, "userSelected": 0}
STRINGS = {"string", "code", "markdown", "uri", "url", "uuid", "id", "instant", "canonical"}
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
ABSOLUTE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+|urn:\S+")
RELATIVE_REF = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")  # userId / resourceId are typed url but are "Type/id"


def _ext(element, name):
    return [x for x in element.get("extension", []) if x["url"].endswith("/" + name)]


@lru_cache(None)
def _fsh():
    """FSH logicals: {model: {path: {min, max, type, vs, empty}}}, obeys {(model, path): [keys]}, invariants."""
    models, obeys, invariants, model, ext_url = {}, {}, {}, None, None
    for file in sorted((HL7 / "invariants").glob("*.fsh")):
        for line in file.read_text().splitlines():
            if m := re.match(r"(Logical|Invariant): (\S+)", line):
                model = m[2] if m[1] == "Logical" else None
                name = m[2]
                if m[1] == "Invariant":
                    invariants[name] = {"key": name, "severity": "error"}
            elif model is None and (m := re.match(r'\* (severity|expression) = [#"](.*?)"?$', line)):
                invariants[name][m[1]] = m[2]
            elif model is None and (m := re.match(r'Description: "(.*)"', line)):
                invariants[name]["human"] = m[1]
            elif model is None:
                continue
            elif m := re.match(r"\*\s*(\S*)\s*obeys (.+)", line):
                obeys.setdefault((model, m[1]), []).extend(m[2].split(" and "))
            elif m := re.match(r"\* (\S+) (\d+)\.\.(\d+|\*) (\S+)", line):
                models.setdefault(model, {})[m[1]] = {"min": int(m[2]), "max": m[3], "types": [m[4].split("/")[-1]]}
            elif m := re.match(r"\* (\S+) from \S+/ValueSet/(\S+) \(required\)", line):
                models[model][m[1]]["vs"] = m[2]
            elif m := re.match(r'\* (\S+) \^extension\S*\.url = "(\S+)"', line):
                ext_url = m[2]
            elif (m := re.match(r"\* (\S+) \^extension\S*\.valueCode = #(\S+)", line)) and "empty" in ext_url:
                models[model][m[1]]["empty"] = m[2]
    return models, obeys, invariants


@lru_cache(None)
def model(name: str) -> dict:
    """{model-relative path: element} from the StructureDefinition, else from the FSH logical."""
    fsh_models, fsh_obeys, _ = _fsh()
    file = HL7 / "models" / f"structuredefinition-{name}.json"
    if not file.exists():
        elements = {p: dict(e, json=p.rsplit(".", 1)[-1], obeys=fsh_obeys.get((name, p), [])) for p, e in fsh_models[name].items()}
        return {"": {"obeys": fsh_obeys.get((name, ""), [])}, **elements}
    elements = {}
    for e in json.loads(file.read_text())["differential"]["element"]:
        path = e["path"].partition(".")[2]
        fsh = fsh_models.get(name, {}).get(path, {})
        name_ext, specifiers = _ext(e, "json-name"), _ext(e, "type-specifier")
        elements[path] = {
            "json": name_ext[0]["valueString"] if name_ext else path.rsplit(".", 1)[-1],
            "min": max(e.get("min", 0), fsh.get("min", 0)), "max": e.get("max", "1"),  # required in either HL7 source
            "types": [t["code"].split("/")[-1] for t in e.get("type", [])],
            "ref": e.get("contentReference", "#.").partition(".")[2],
            "vs": e["binding"]["valueSet"].split("/")[-1] if e.get("binding", {}).get("strength") == "required" else None,
            "fixed": e.get("fixedCode"), "keyed": bool(_ext(e, "json-property-key")),
            "nullable": any(x.get("valueBoolean") for x in _ext(e, "json-nullable")),
            "empty": next((x["valueCode"] for x in _ext(e, "json-empty-behavior")), fsh.get("empty")),
            "constraints": e.get("constraint", []),
            "obeys": sorted({c["key"] for c in e.get("constraint", [])} | set(fsh_obeys.get((name, path), []))),
            "contexts": {re.search(r"'(.+)'", s["extension"][0]["valueString"])[1]: s["extension"][1]["valueCode"].split("/")[-1]
                         for s in specifiers},
        }
    return elements


def check(document, model_name: str, allow=()) -> list[str]:
    """Every problem HL7's definitions find in ``document`` (a parsed JSON object)."""
    problems = list(_empties(document, "", model_name))
    _object(document, model_name, "", "", problems, set(allow))
    return problems


def _empties(value, where, model_name):
    """CDS Hooks JSON rule (spec §1.1): nothing null or empty, except ``cards: []`` and null prefetch values."""
    if value is None:
        if not (model_name == "CDSHooksRequest" and re.fullmatch(r"prefetch\.[^.\[]+", where)):
            yield f"{where}: null is not allowed"
    elif value in ("", [], {}):
        if not (value == [] and model(model_name).get(where, {}).get("empty") == "present"):  # json-empty-behavior
            yield f"{where}: empty {json.dumps(value)} is not allowed"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _empties(child, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip("."), model_name)


def _object(obj, model_name, path, where, problems, allow):
    """Check one object instance of element ``path`` (model-relative) against its child elements and rules."""
    elements = model(model_name)
    if not isinstance(obj, dict):
        return problems.append(f"{where or '(root)'}: must be a JSON object")
    _invariants(obj, elements.get(path, {}), model_name, where or "(root)", problems)
    prefix = f"{path}." if path else ""
    children = {e["json"]: (p, e) for p, e in elements.items() if p.startswith(prefix) and "." not in p[len(prefix):] and p}
    for key, value in obj.items():
        at = f"{where}.{key}".lstrip(".")
        if key in children:
            _element(value, model_name, *children[key], at, obj, problems, allow)
        elif key != "extension" and key not in allow and f"{prefix}{key}" not in allow:
            problems.append(f"{at}: unknown element (not in {model_name})")
    for key, (child_path, element) in children.items():
        if element["min"] >= 1 and obj.get(key) is None:
            problems.append(f"{where}.{key}".lstrip(".") + f": required ({model_name}.{child_path} {element['min']}..{element['max']})")


def _element(value, model_name, path, element, where, parent, problems, allow):
    if element.get("max") == "1" and isinstance(value, list):
        return problems.append(f"{where}: max 1, must not be an array")
    if element.get("max") == "*" and not element.get("keyed") and not isinstance(value, list):
        return problems.append(f"{where}: must be an array")
    if element.get("keyed"):  # json-property-key: a JSON object whose keys are `key`, values `value`
        value_element = model(model_name).get(f"{path}.value", {})
        for key, item in (value.items() if isinstance(value, dict) else [(None, value)]):
            if key is None:
                problems.append(f"{where}: must be a JSON object")
            elif item is not None or not value_element.get("nullable"):
                _value(item, model_name, f"{path}.value", value_element, f"{where}.{key}", parent, problems, allow)
        return
    for i, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
        _value(item, model_name, path, element, where if i is None else f"{where}[{i}]", parent, problems, allow)


def _value(value, model_name, path, element, where, parent, problems, allow):
    types, ref = element.get("types", []), element.get("ref")
    kind = types[0] if types else "CDSHooksElement"
    if value is None or value in ("", [], {}):
        return  # reported by _empties
    if ref:
        return _object(value, model_name, ref, where, problems, allow)
    if kind in ("CDSHooksElement", "Base"):
        return _object(value, model_name, path, where, problems, allow)
    if kind == "CDSHookContext":
        context_model = element["contexts"].get(parent.get("hook"))
        if context_model is None:
            return problems.append(f"{where}: no HL7 context model for hook {parent.get('hook')!r}")
        return _object(value, context_model, "", where, problems, allow)
    if kind == "Coding":
        if not isinstance(value, dict):
            return problems.append(f"{where}: a Coding must be a JSON object")
        problems += [f"{where}.{k}: required in a CDS Hooks Coding" for k, n in CODING.items() if n and k not in value]
        problems += [f"{where}.{k}: unknown element of Coding" for k in value if k not in CODING and k != "extension"]
        problems += [f"{where}.{k}: must be a non-empty string" for k in ("code", "system", "display")
                     if k in value and not isinstance(value[k], str)]
    elif kind in ("Resource", "Bundle"):
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            problems.append(f"{where}: must be a FHIR resource (JSON object with resourceType)")
        elif kind == "Bundle" and value["resourceType"] != "Bundle":
            problems.append(f"{where}: must be a Bundle, not {value['resourceType']}")
    elif kind == "boolean" and not isinstance(value, bool) or kind == "integer" and (type(value) is not int):
        problems.append(f"{where}: must be a JSON {kind}, not {json.dumps(value)}")
    elif kind in STRINGS:
        problems += _string(value, kind, where)
    if element.get("vs") and value not in VALUE_SETS[element["vs"]]:
        problems.append(f"{where}: {value!r} is not in required value set {element['vs']} {sorted(VALUE_SETS[element['vs']])}")
    if element.get("fixed") and value != element["fixed"]:
        problems.append(f"{where}: must be exactly {element['fixed']!r}")
    _invariants({"value": value} if not isinstance(value, dict) else value, element, model_name, where, problems)


def _string(value, kind, where):
    if not isinstance(value, str):
        return [f"{where}: {kind} must be a JSON string, not {json.dumps(value)}"]
    checks = {"uuid": UUID.fullmatch(value), "id": FHIR_ID.fullmatch(value), "instant": INSTANT.fullmatch(value),
              "url": ABSOLUTE.fullmatch(value) or RELATIVE_REF.fullmatch(value), "code": value.strip() == value}
    return [] if checks.get(kind, True) else [f"{where}: {value!r} is not a valid {kind}"]


def _invariants(obj, element, model_name, where, problems):
    """Run each invariant the element obeys on this instance (FSH expression first, else the SD constraint)."""
    fsh = _fsh()[2]
    local = {c["key"]: c for c in element.get("constraints", [])}
    for key in element.get("obeys", []):
        rule = fsh.get(key) or local[key]
        # ord-1's regex `[\d\w-.]` is Java syntax (a '-' after a class escape is literal); Python's re needs `\-`.
        expression = re.sub(r"(\\\\[dwsDWS])-", r"\1\\\\-", rule["expression"])
        try:
            passed = fhirpathpy.evaluate(obj, expression) == [True]
        except Exception as error:  # an expression fhirpathpy cannot run is a problem to see, not a pass
            passed, rule = False, dict(rule, human=f"{rule.get('human')} (evaluation error: {error})")
        if not passed:
            problems.append(f"{where}: {key} ({rule['severity']}) failed: {rule.get('human', rule['expression'])}")
