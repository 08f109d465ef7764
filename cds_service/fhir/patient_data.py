"""Gather the patient data a hook call needs: prefetch first, then the EHR's FHIR server.

CDS Hooks 2.0 §1.4 per prefetch key: a resource or Bundle is used as sent; ``null`` means no data;
an OperationOutcome or a missing key is queried from ``fhirServer``. All queries of one call run
concurrently under one ``Deadline``. Required data that cannot be obtained → 412; optional data →
``unavailable`` (the engine turns it into a data-unavailable card).
"""
from __future__ import annotations

import collections
import logging
import re
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Callable, Container, Iterable, Sequence
from urllib.parse import quote, urlsplit

import requests

from cds_service.config import Settings
from cds_service.errors import ApiError, PreconditionFailed
from cds_service.fhir.client import Deadline, FhirClient, FhirError, FhirNotFound, FhirTimeout, SearchResult
from cds_service.fhir.readers import readers
from cds_service.fhir.wire import bundle_resources, indexed_entries, next_link
from cds_service.ops import metrics
from fhir_mappings.orders import resolve_order

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")
_READ = re.compile(r"^[A-Z][A-Za-z]+/[^/?]+$")
_MISSING = object()


@dataclass
class Gathered:
    resources: dict[str, list[dict]]  # per prefetch key; [] for "none" and "not applicable"
    unavailable: dict[str, str] = field(default_factory=dict)  # optional key → reason
    partial: dict[str, str] = field(default_factory=dict)  # key → why only part of the data was read
    prefetched: tuple[str, ...] = ()
    fetched: tuple[str, ...] = ()
    pages: int = 0  # pages (and reads) fetched from the FHIR server
    fhir_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)  # key → time of its FHIR reads
    timed_out: set[str] = field(default_factory=set)  # keys whose reads ran out of time


class UnknownPatient(FhirError):
    """The FHIR server says the context patient does not exist (404 / 410 on ``Patient/{id}``)."""


def gather(payload: dict, templates: dict[str, str], required: Iterable[str], settings: Settings,
           session: requests.Session | None = None, deadline: Deadline | None = None,
           latest: Iterable[str] = ()) -> Gathered:
    """Every template key's resources, from prefetch or ``fhirServer`` (raises 400 / 412).

    ``latest`` names latest-value keys (sorted newest first): only their first page is read, and
    a prefetched first page is not followed (decision-rules §8 v2). A patient the FHIR server does
    not know is a 412 naming ``patient`` (§8 v2): every absence would be meaningless.
    """
    latest = frozenset(latest)
    context = payload.get("context") or {}
    patient_id = context.get("patientId")
    prefetch = payload.get("prefetch") or {}
    client = fhir_client(payload, settings, session, deadline)
    gathered = Gathered(resources={})
    jobs: dict[str, Callable[[], SearchResult]] = {}
    failures: dict[str, str] = {}
    prefetched = []
    for key, template in templates.items():
        value = prefetch.get(key, _MISSING)
        if value is None or _is_resource(value):
            prefetched.append(key)
            gathered.resources[key] = _use_prefetched(key, value, patient_id, client, jobs, gathered, key in latest)
            continue
        if value is not _MISSING and not _is_outcome(value):
            raise ApiError(f"prefetch.{key} must be a FHIR resource, a Bundle or null", f"prefetch.{key}")
        query = render(template, context)
        if query is None:  # e.g. no encounterId: the template does not apply to this call
            gathered.resources[key] = []
        elif client is None:
            failures[key] = ("the client's prefetch failed" if value is not _MISSING else "not prefetched")
            failures[key] += " and no usable fhirServer to query (absent, or not allowed for this client)"
        else:
            jobs[key] = _fetch_job(client, query, key in latest)
    gathered.prefetched = tuple(prefetched)
    results = _run(jobs, settings, client.deadline if client else None, failures, gathered)
    fetched = [key for key in templates if key in results and key not in prefetched]
    for key, result in results.items():
        gathered.resources[key] = result.resources
        if result.truncated:
            gathered.partial[key] = result.truncated
        check_patient(((f"fhirServer.{key}[{i}]", r) for i, r in enumerate(result.resources)), patient_id)
    gathered.fetched = tuple(fetched)
    gathered.resources = {key: gathered.resources[key] for key in templates if key in gathered.resources}
    metrics.fhir_reads(read_results(gathered, failures), gathered.seconds)
    _settle_failures(failures, set(required), gathered)
    return gathered


def _use_prefetched(key: str, value: dict | None, patient_id: str, client: FhirClient | None,
                    jobs: dict, gathered: Gathered, first_page_only: bool = False) -> list[dict]:
    """The resources of a prefetched value; a Bundle's further pages become a job when we may read them
    (never for latest-value keys: their first page is the answer)."""
    if value is None:
        return []
    if value.get("resourceType") != "Bundle":
        check_patient([(f"prefetch.{key}", value)], patient_id)
        return [value]
    check_patient(((f"prefetch.{key}.entry[{i}].resource", r) for i, r in indexed_entries(value)), patient_id)
    if next_link(value) is not None and not first_page_only:
        if client is not None and client.has_token:
            jobs[key] = _follow_job(client, value)
        else:
            gathered.partial[key] = "prefetched Bundle has more pages and no fhirAuthorization to read them"
    return bundle_resources(value)


def _fetch_job(client: FhirClient, query: str, first_page_only: bool = False) -> Callable[[], SearchResult]:
    def job() -> SearchResult:
        if not _READ.match(query):
            return client.search(query, first_page_only)
        try:
            return SearchResult([client.read(*query.split("/"))], 1, None)
        except FhirNotFound as error:  # a read with no resource is "no data", like a null prefetch
            if query.startswith("Patient/"):  # ... except the context patient (§8 v2)
                raise UnknownPatient(f"{query} does not exist on the FHIR server ({error})", error.status) from None
            return SearchResult([], 1, None)
    return job


def _follow_job(client: FhirClient, bundle: dict) -> Callable[[], SearchResult]:
    def job() -> SearchResult:
        try:
            return client.follow(bundle)
        except FhirError as error:  # keep the prefetched page, say the rest is missing
            return SearchResult(bundle_resources(bundle), 0, f"further pages could not be read: {error}")
    return job


def _run(jobs: dict[str, Callable[[], SearchResult]], settings: Settings, deadline: Deadline | None,
         failures: dict[str, str], gathered: Gathered) -> dict[str, SearchResult]:
    """Run the jobs concurrently, at most ``fhir_max_workers`` at a time, on this process's reader
    threads; return on completion or when the deadline runs out."""
    if not jobs:
        return {}
    started = time.monotonic()
    futures = {Future(): key for key in jobs}
    queued = collections.deque(futures.items())

    def lane() -> None:  # runs queued jobs one after another until none is left
        while queued:
            try:
                future, key = queued.popleft()
            except IndexError:  # another lane took the last one
                return
            if future.set_running_or_notify_cancel():  # False: cancelled at the deadline
                try:
                    future.set_result(_timed(jobs[key], key, gathered.seconds))
                except BaseException as error:  # noqa: B036 (the caller re-raises it from the future)
                    future.set_exception(error)

    for _ in range(min(len(jobs), settings.fhir_max_workers)):
        readers().start(lane)
    done, late = wait(futures, timeout=deadline.remaining())
    for future in late:  # reads not begun never start; begun ones end at the deadline (each receive is bounded by it)
        future.cancel()
    results = {}
    for future in done:
        key = futures[future]
        try:
            results[key] = future.result()
        except UnknownPatient as error:
            message = f"Required data 'patient' could not be obtained: {error}"
            failed = PreconditionFailed(message, "prefetch.patient")
            failed.issues, failed.gathered = [(message, "prefetch.patient")], gathered
            raise failed from None
        except FhirError as error:
            failures[key] = str(error)
            if isinstance(error, FhirTimeout):
                gathered.timed_out.add(key)
    for future in late:
        key = futures[future]
        failures[key] = f"deadline of {deadline.seconds:g} s exceeded"
        gathered.timed_out.add(key)
        gathered.seconds[key] = time.monotonic() - started
    gathered.pages += sum(result.pages for result in results.values())
    gathered.fhir_seconds += time.monotonic() - started
    return results


def _timed(job: Callable[[], SearchResult], key: str, seconds: dict[str, float]) -> SearchResult:
    started = time.monotonic()
    try:
        return job()
    finally:
        seconds[key] = time.monotonic() - started


def read_results(gathered: Gathered, failures: dict[str, str]) -> dict[str, str]:
    """Per prefetch key: prefetched, fetched, partial (read in part), failed or timed_out; keys whose
    template did not apply to the call (e.g. no encounterId) are left out."""
    results = {key: "timed_out" if key in gathered.timed_out else "failed" for key in failures}
    for key in gathered.prefetched + gathered.fetched:
        results.setdefault(key, "partial" if key in gathered.partial else
                           "prefetched" if key in gathered.prefetched else "fetched")
    return results


def _settle_failures(failures: dict[str, str], required: set[str], gathered: Gathered) -> None:
    missing = sorted(key for key in failures if key in required)
    for key in failures.keys() - required:
        gathered.unavailable[key] = failures[key]
    if missing:
        issues = [(f"Required data '{key}' could not be obtained: {failures[key]}", f"prefetch.{key}")
                  for key in missing]
        error = PreconditionFailed(issues[0][0] if len(issues) == 1 else
                                   "Required data could not be obtained: " + ", ".join(missing),
                                   f"prefetch.{missing[0]}")
        error.issues = issues
        error.gathered = gathered  # for the call log
        raise error


def render(template: str, context: dict) -> str | None:
    """The template with ``{{context.x}}`` filled in; None when a token has no value."""
    values = {}
    for name in _TOKEN.findall(template):
        value = context.get(name)
        if not isinstance(value, str) or not value:
            return None
        values[name] = quote(value, safe="/")
    return _TOKEN.sub(lambda match: values[match.group(1)], template)


def check_patient(items: Iterable[tuple[str, dict]], patient_id: str | None) -> None:
    """400 naming the field when a resource belongs to another patient than ``context.patientId``."""
    for path, resource in items:
        if resource.get("resourceType") == "Patient":
            if resource.get("id") not in (None, patient_id):
                raise ApiError(f"{path} is not the context patient", f"{path}.id")
            continue
        for element in ("subject", "patient"):
            reference = resource.get(element)
            found = _patient_id(reference.get("reference")) if isinstance(reference, dict) else None
            if found is not None and found != patient_id:
                raise ApiError(f"{path}.{element} refers to another patient than context.patientId",
                               f"{path}.{element}")


def _patient_id(reference) -> str | None:
    parts = reference.split("/") if isinstance(reference, str) else []
    return next((parts[i + 1] for i in range(len(parts) - 1) if parts[i] == "Patient"), None)


def _is_outcome(value) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _is_resource(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str) and not _is_outcome(value)


def fhir_client(payload: dict, settings: Settings, session: requests.Session | None = None,
                deadline: Deadline | None = None) -> FhirClient | None:
    """A client for the call's ``fhirServer`` with its bearer token; None without fhirServer."""
    base = payload.get("fhirServer")
    if not base:
        return None
    token = (payload.get("fhirAuthorization") or {}).get("access_token")
    return FhirClient(base, token, settings, session, deadline)


def resolve_references(orders: Sequence, payload: dict, settings: Settings,
                       session: requests.Session | None = None, deadline: Deadline | None = None) -> list:
    """Orders with a ``medication_reference`` resolved by reading it from fhirServer (failures: unchanged)."""
    client = fhir_client(payload, settings, session, deadline)
    if client is None or not any(order.medication_reference for order in orders):
        return list(orders)
    medications: dict[str, dict | None] = {}
    resolved = []
    for order in orders:
        medication_id = _medication_id(client, order.medication_reference)
        if medication_id and medication_id not in medications:
            medications[medication_id] = _read_medication(client, medication_id)
        medication = medications.get(medication_id)
        resolved.append(resolve_order(order, medication) if medication else order)
    return resolved


MAX_HISTORY_MEDICATION_READS = 20  # distinct Medications read per call; the rest stay unknown trials


def history_medications(references: Iterable[str], known: Container[str], payload: dict, settings: Settings,
                        gathered: Gathered, session: requests.Session | None = None,
                        deadline: Deadline | None = None) -> list[dict]:
    """The Medications that medication history ``references`` and nobody sent (``known``: the
    "Medication/x" keys sent, contained or ``_include``d), read from fhirServer concurrently within
    the call's deadline (decision-rules §8 v2).

    What cannot be read stays unresolved: the TRD rule shows it as an unknown trial (§2.9).
    """
    client = fhir_client(payload, settings, session, deadline)
    if client is None:
        return []
    wanted = sorted({medication_id for medication_id in (_medication_id(client, ref) for ref in references)
                     if medication_id and f"Medication/{medication_id}" not in known})
    jobs = {f"Medication/{mid}": _fetch_job(client, f"Medication/{mid}") for mid in wanted[:MAX_HISTORY_MEDICATION_READS]}
    failures: dict[str, str] = {}
    results = _run(jobs, settings, client.deadline, failures, gathered)
    for key, reason in failures.items():
        log.info("%s read failed, history record left unresolved: %s", key, reason)
    return [resource for result in results.values() for resource in result.resources]


def _medication_id(client: FhirClient, reference: str | None) -> str | None:
    """The id in ``Medication/x`` or ``{fhirServer}/Medication/x``; None for anything else."""
    if reference and urlsplit(reference).scheme:  # absolute: only on the call's own fhirServer
        prefix = client.base_url + "/"
        reference = reference[len(prefix):] if reference.startswith(prefix) else None
    match = re.fullmatch(r"Medication/([A-Za-z0-9\-.]{1,64})", reference or "")
    return match.group(1) if match else None


def _read_medication(client: FhirClient, medication_id: str) -> dict | None:
    try:
        return client.read("Medication", medication_id)
    except FhirError as error:
        log.info("Medication read failed, order left unresolved: %s", error)
        return None


def call_summary(gathered: Gathered | None, status: int = 200) -> dict:
    """Fields for the per-call JSON log line: the HTTP status, where the data came from, FHIR cost.
    No token, no names."""
    summary: dict = {"status": status}
    if gathered is not None:
        summary.update(prefetched=list(gathered.prefetched), fetched=list(gathered.fetched),
                       unavailable=sorted(gathered.unavailable), partial=sorted(gathered.partial),
                       fhirPages=gathered.pages, fhirMs=round(gathered.fhir_seconds * 1000))
    return summary
