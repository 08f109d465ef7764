"""Integrator commands that talk to a FHIR server: ``fixtures load`` and ``invoke``.

``invoke`` acts as an EHR would: it builds a CDS Hooks request (draft orders, fhirServer, token),
optionally runs the service's discovery prefetch templates against the FHIR server itself, and
prints the cards. ``build_request`` and ``prefetch_from_server`` are reusable from tests.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable, TextIO

import requests

from cds_service.cli import keys
from cds_service.cli.orders import ORDERS, RXNORM, UCUM
from cds_service.config import Settings
from cds_service.fhir.client import outcome_diagnostics
from cds_service.fhir.wire import diagnostics
from cds_service.fhir.patient_data import gather, render
from cds_service.protocol.services import LATEST_VALUE_KEYS

DEFAULT_USER = "Practitioner/trd-cds-demo"
LOAD_TIMEOUT = (5.0, 120.0)
SERVICE_TIMEOUT = (5.0, 30.0)
PREFETCH_SETTINGS = Settings(fhir_deadline_s=60.0, fhir_read_timeout_s=20.0)


class CommandError(Exception):
    """A failure the command reports in one line and exits non-zero on."""


@dataclass(frozen=True)
class Signer:
    """The test EHR's signing key (``trd-cds keys generate``) and the issuer it signs as."""

    key_path: str
    issuer: str
    kid: str


def signer_from(args: argparse.Namespace) -> Signer | None:
    if not args.sign_key:
        return None
    if not args.issuer:
        raise CommandError("--issuer (or TRD_CDS_CLIENT_ISSUER) is required with --sign-key")
    kid = args.kid or Path(args.sign_key).name.removesuffix(".private.pem")
    return Signer(args.sign_key, args.issuer, kid)


def auth_headers(url: str, signer: Signer | None = None) -> dict[str, str]:
    """``Authorization: Bearer <JWT>`` for one call to ``url`` (aud = url, fresh jti); none unsigned."""
    if signer is None:
        return {}
    token = keys.sign_service_token(signer.key_path, signer.kid, signer.issuer, audience=url)
    return {"Authorization": f"Bearer {token}"}


def draft_medication_request(name: str, index: int, patient_id: str, user_id: str) -> dict:
    code, display, route, value, unit, repeat = ORDERS[name]
    return {
        "resourceType": "MedicationRequest", "id": f"trd-cds-draft-{index}", "status": "draft",
        "intent": "order", "authoredOn": date.today().isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}], "text": display},
        "subject": {"reference": f"Patient/{patient_id}"}, "requester": {"reference": user_id},
        "dosageInstruction": [{
            "text": display, "route": {"coding": [route]}, "timing": {"repeat": repeat},
            "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}],
        }],
    }


def build_request(hook: str, patient_id: str, fhir_server: str, orders: Iterable[str] = ("esketamine-56mg",),
                  bearer: str | None = None, user_id: str = DEFAULT_USER) -> dict:
    """A CDS Hooks request as an EHR sends it, without prefetch (see ``prefetch_from_server``)."""
    requests_ = [draft_medication_request(name, n, patient_id, user_id) for n, name in enumerate(orders, 1)]
    context = {"userId": user_id, "patientId": patient_id,
               "draftOrders": {"resourceType": "Bundle", "type": "collection",
                               "entry": [{"resource": r} for r in requests_]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{r['id']}" for r in requests_]
    request = {"hook": hook, "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server, "context": context}
    if bearer:
        request["fhirAuthorization"] = {"access_token": bearer, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "trd-cds",
                                        "patient": patient_id}
    return request


def prefetch_from_server(request: dict, templates: dict[str, str],
                         settings: Settings = PREFETCH_SETTINGS) -> dict:
    """The prefetch an EHR would send: each applicable template run against ``request['fhirServer']``.

    A search becomes one searchset Bundle of all its pages, a read the resource or null, a failed
    query an OperationOutcome; a template whose token has no value is left out.
    """
    gathered = gather(request, templates, (), settings, latest=LATEST_VALUE_KEYS)  # their _count: one page
    prefetch: dict = {}
    for key, template in templates.items():
        if render(template, request["context"]) is None:
            continue
        found = gathered.resources.get(key, [])
        if key in gathered.unavailable:
            prefetch[key] = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "exception", "diagnostics": gathered.unavailable[key]}]}
        elif "?" not in template:
            prefetch[key] = found[0] if found else None
        else:
            prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                             "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]}
    return prefetch


def discovery_templates(service: str, service_id: str, signer: Signer | None = None) -> dict[str, str]:
    url = f"{service}/cds-services"
    response = _checked(requests.get(url, headers=auth_headers(url, signer), timeout=SERVICE_TIMEOUT), url)
    for entry in response.json().get("services", []):
        if entry.get("id") == service_id:
            return entry.get("prefetch") or {}
    raise CommandError(f"{url} does not offer the service {service_id}")


@dataclass
class LoadResult:
    """What ``load_fixtures`` did: entry counts, failed entries, and (``ids="server"``) the ids given."""

    counts: Counter
    errors: list[str]
    patients: dict[str, str]  # fixture Patient id → the server's "Patient/<id>"


def load_fixtures(fhir_server: str, names: Iterable[str] | None = None, bearer: str | None = None,
                  progress: TextIO | None = None, ids: str = "client") -> LoadResult:
    """POST each fixture patient's transaction Bundle; counts of created (201) and updated (200) entries.

    Every entry whose response is not 2xx is an error with its OperationOutcome (Medplum answers a
    transaction 200 with a 400 per refused entry). ``ids="server"``: for servers that assign their
    own ids (Medplum accepts only UUIDs), entries are POSTed with ``urn:uuid`` fullUrls and the
    references between them rewritten; the Patient ids the server gave are returned.
    """
    import fixtures

    known = fixtures.patient_names()
    names = list(names or known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise CommandError(f"unknown fixture patient(s) {', '.join(unknown)}; known: {', '.join(known)}")
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    result = LoadResult(Counter(), [], {})
    base = fhir_server.rstrip("/")
    for done, name in enumerate(names, 1):
        bundle = fixtures.load_patient_bundle(name)
        sent = server_assigned_ids(bundle) if ids == "server" else bundle
        response = _checked(requests.post(base, data=json.dumps(sent), headers=headers, timeout=LOAD_TIMEOUT), base)
        _record(name, sent, bundle, response.json(), result)
        _progress(progress or sys.stderr, done, len(names), name)
    return result


def _record(name: str, sent: dict, original: dict, answer: dict, result: LoadResult) -> None:
    """Count each entry's status; list every entry that is not 2xx (or missing) as an error."""
    answers = answer.get("entry") if isinstance(answer, dict) and isinstance(answer.get("entry"), list) else []
    for index, entry in enumerate(sent.get("entry", [])):
        reply = answers[index] if index < len(answers) and isinstance(answers[index], dict) else {}
        response = reply.get("response") if isinstance(reply.get("response"), dict) else {}
        status = str(response.get("status", ""))
        request = entry.get("request", {})
        if status[:1] == "2":
            result.counts[{"201": "created", "200": "updated"}.get(status[:3], "other")] += 1
            resource = original["entry"][index].get("resource", {})
            if resource.get("resourceType") == "Patient" and response.get("location"):
                result.patients[resource["id"]] = _type_and_id(str(response["location"]))
            continue
        result.counts["failed"] += 1
        outcome = diagnostics(response.get("outcome")) or diagnostics(reply.get("resource")) or "no OperationOutcome"
        result.errors.append(f"{name}: entry {index} ({request.get('method')} {request.get('url')}) answered "
                             f"{status or 'nothing'}: {outcome}")


def _type_and_id(location: str) -> str:
    """"Patient/123" from a Location answer ("Patient/123/_history/1", absolute or relative)."""
    return "/".join(location.split("/_history")[0].rstrip("/").split("/")[-2:])


def server_assigned_ids(bundle: dict) -> dict:
    """The transaction with POST entries and ``urn:uuid`` fullUrls; references between entries rewritten."""
    refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])]
    full_urls = {ref: f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:trd-cds:' + ref)}" for ref in refs}

    def rewrite(value):
        if isinstance(value, dict):
            return {key: (full_urls.get(item, item) if key == "reference" and isinstance(item, str) else rewrite(item))
                    for key, item in value.items()}
        return [rewrite(item) for item in value] if isinstance(value, list) else value

    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        own = {key: rewrite(item) for key, item in resource.items() if key != "id"}
        entries.append({"fullUrl": full_urls[f"{resource['resourceType']}/{resource['id']}"], "resource": own,
                        "request": {"method": "POST", "url": resource["resourceType"]}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _progress(out: TextIO, done: int, total: int, label: str, width: int = 30) -> None:
    filled = width * done // total
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<40.40}")
    if done == total:
        out.write("\n")
    out.flush()


def _checked(response: requests.Response, url: str) -> requests.Response:
    if response.status_code >= 400:
        detail = outcome_diagnostics(response) or response.text[:300]
        raise CommandError(f"{url} answered HTTP {response.status_code}: {detail}")
    return response


def format_cards(cards: list[dict]) -> str:
    """Cards for a terminal: indicator, topic and summary, then the detail indented."""
    if not cards:
        return "No cards."
    lines = []
    for card in cards:
        topic = (card.get("source") or {}).get("topic") or {}
        title = topic.get("display") or topic.get("code") or ""
        lines.append(f"[{card.get('indicator', '?').upper()}] {title} — {card.get('summary', '')}")
        lines += [f"    {line}" for line in (card.get("detail") or "").splitlines()]
        lines.append("")
    return "\n".join(lines).rstrip()


def fixtures_load_command(args: argparse.Namespace) -> int:
    result = load_fixtures(args.fhir_server, args.patient, args.bearer, ids=args.ids)
    counts = result.counts
    print(f"created {counts['created']}, updated {counts['updated']}"
          + (f", other {counts['other']}" if counts["other"] else "")
          + (f", failed {counts['failed']}" if counts["failed"] else ""))
    for fixture_id, server_id in sorted(result.patients.items()) if args.ids == "server" else ():
        print(f"{fixture_id} -> {server_id}")
    for error in result.errors:
        print(f"trd-cds: {error}", file=sys.stderr)
    return 1 if result.errors else 0


def invoke_command(args: argparse.Namespace) -> int:
    service, service_id = args.service.rstrip("/"), f"ketamine-esketamine-{args.hook}"
    request = build_request(args.hook, args.patient, args.fhir_server, args.order or ["esketamine-56mg"],
                            args.bearer)
    signer = signer_from(args)
    if not args.no_prefetch:
        request["prefetch"] = prefetch_from_server(request, discovery_templates(service, service_id, signer))
    url = f"{service}/cds-services/{service_id}"
    headers = {"Content-Type": "application/json"} | auth_headers(url, signer)
    response = _checked(requests.post(url, json=request, headers=headers, timeout=SERVICE_TIMEOUT), url)
    cards = response.json().get("cards", [])
    print(json.dumps(response.json(), indent=2) if args.json else format_cards(cards))
    return 0


def _reporting(command):
    """Turn connection failures and error answers into one stderr line and exit status 1."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CommandError as error:
            print(f"trd-cds: {error}", file=sys.stderr)
        except requests.ConnectionError as error:
            print(f"trd-cds: cannot connect to {error.request.url if error.request else 'the server'}",
                  file=sys.stderr)
        except requests.Timeout:
            print("trd-cds: the server did not answer in time", file=sys.stderr)
        return 1
    return run


run_fixtures_load = _reporting(fixtures_load_command)
run_invoke = _reporting(invoke_command)
