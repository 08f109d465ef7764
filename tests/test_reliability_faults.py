"""Faults under load: 100 concurrent hook calls while the FHIR server delays, fails, resets or babbles.

A stub FHIR server on 127.0.0.1 (this file run as a script, in its own process so that it does not
share the app's GIL) decides each prefetch key's fault from the call's patient id, so retries meet
the same fault and every call's answer is known: 412 when required data fails, 200 with a
data-unavailable card when optional data the order's checks need fails, else plain 200.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

import fixtures
from cds_service import create_app
from cds_service.fhir import client as fhir_client
from cds_service.protocol.services import REQUIRED_KEYS, SERVICES
from hooks.unavailable import CHECKS

DEADLINE_S = 6.0  # above what 100 concurrent calls in one process cost on a loaded 2-core machine
SLOW_S = DEADLINE_S * 4  # how long the stub's "slow" answers take: far past the deadline
MARGIN_S = DEADLINE_S / 2  # the service's own FHIR time may pass the deadline by scheduling delays, not by waiting
SETTLE_S = 30.0  # bound on waiting for threads and files to be released (returns as soon as they are)
CALLS = 100
FD_SLACK = 10
KINDS = ("slow", "500", "reset", "garbage")
TEMPLATE = fixtures.load_request("met-two-classes", "order-sign")  # an esketamine order
TEMPLATE_ID = TEMPLATE["context"]["patientId"]
KEYS = tuple(TEMPLATE["prefetch"])
PATH = next(f"/cds-services/{s.id}" for s in SERVICES.values() if s.hook == "order-sign")
SEARCH_KEYS = {"MedicationStatement": "medicationStatements", "MedicationRequest": "medicationRequests",
               "Condition": "conditions", "AllergyIntolerance": "allergies", "44261-6": "depressionScores",
               "85354-9": "bloodPressure", "29463-7": "weight", "Patient": "patient", "Encounter": "encounter",
               "Observation": "surveys"}  # the one Observation search without a code


def plan(call: int) -> dict[str, str]:
    """The faults of call ``call``: key → kind. Every (key, kind) pair occurs; every tenth call has none."""
    if call % 10 == 0:
        return {}
    faults = {KEYS[call % len(KEYS)]: KINDS[call % len(KINDS)]}
    if call % 3 == 0:
        faults[KEYS[(call * 7) % len(KEYS)]] = KINDS[(call // 3) % len(KINDS)]
    return faults


def fetched_keys(call: int) -> set[str]:
    """The keys call ``call`` leaves to the FHIR server: its faulty ones and two good ones (rotating)."""
    return set(plan(call)) | {KEYS[call % len(KEYS) - 1], KEYS[call % len(KEYS) - 2]}


def patient_request(call: int) -> dict:
    """The template request for patient ``fault-<call>``, the fetched keys left out of its prefetch."""
    request = json.loads(json.dumps(TEMPLATE).replace(TEMPLATE_ID, f"fault-{call}"))
    request["hookInstance"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:trd-cds:fault-call:{call}"))
    request["prefetch"] = {k: v for k, v in request["prefetch"].items() if k not in fetched_keys(call)}
    return request


class FaultyFhir(BaseHTTPRequestHandler):
    """Answers the prefetch queries with the template's data, or the fault planned for the key."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        resource_type, _, read_id = url.path.split("/fhir/", 1)[1].partition("/")
        patient = read_id.removesuffix("-encounter") or parse_qs(url.query)["patient"][0]
        first_code = parse_qs(url.query).get("code", [""])[0].split(",")[0].split("|")[-1]
        key = SEARCH_KEYS.get(first_code) or SEARCH_KEYS[resource_type]
        call = patient.removeprefix("fault-")
        fault = plan(int(call)).get(key) if call.isdigit() else None
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if fault == "slow":
            time.sleep(float(sys.argv[1]))
        body = json.dumps(TEMPLATE["prefetch"][key]).replace(TEMPLATE_ID, patient).encode()
        status = 500 if fault == "500" else 200
        if fault == "500":
            body = b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}'
        elif fault == "garbage":
            body = b"\x00<html>not FHIR{"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (slow answers)
            pass

    def log_message(self, *args):
        pass


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024


@pytest.fixture(scope="module")
def fhir_stub():
    process = subprocess.Popen([sys.executable, __file__, str(SLOW_S)], stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


def expected(call: int) -> tuple[int, list[str]]:
    """(status, optional keys the data-unavailable card must name) for call ``call``."""
    failed = set(plan(call))
    if failed & set(REQUIRED_KEYS):
        return 412, []
    return 200, sorted(key for key in failed if "esketamine" in CHECKS[key][0])


def open_fds_but_store_and_idle_http(store_dir) -> int:
    """Open files of this process, less the SQLite store's (its pool keeps up to 5 connections of 3
    files each, opened as load demands) and idle pooled FHIR connections (closed here; the pool
    reopens them on its next use): what is left is what a FHIR read could leak."""
    fhir_client.shared_session().close()
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile
            pass
    return sum(not target.startswith(str(store_dir)) for target in fds)


def settled(count, limit: int, timeout_s: float = SETTLE_S) -> int:
    """``count()`` once it is at most ``limit``, or its value after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while (value := count()) > limit and time.monotonic() < end:
        time.sleep(0.1)
    return value


class CallLog(logging.Handler):
    """The service's per-call log lines (``trd_cds.calls``), by hookInstance."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: dict[str, dict] = {}

    def emit(self, record):
        line = json.loads(record.getMessage())
        self.lines[line["hookInstance"]] = line


def check_answers(results: list, calls: CallLog) -> None:
    """Each answer is the one planned, and the service's own FHIR time (monotonic clock, logged as
    fhirMs) stayed within the deadline: no call waited for a slow answer (the stub's take SLOW_S)."""
    for number, response in enumerate(results):
        status, unavailable = expected(number)
        fhir_ms = calls.lines[patient_request(number)["hookInstance"]].get("fhirMs")
        assert fhir_ms is not None, f"call {number} {plan(number)}: no fhirMs logged"
        assert fhir_ms <= (DEADLINE_S + MARGIN_S) * 1000, f"call {number} {plan(number)}: fhirMs {fhir_ms}"
        assert response.status_code == status, (number, plan(number), response.get_json())
        body = response.get_json()
        if status == 412:
            assert body["resourceType"] == "OperationOutcome"
            assert {e for issue in body["issue"] for e in issue["expression"]} <= {f"prefetch.{k}" for k in REQUIRED_KEYS}
            continue
        named = [card["summary"] for card in body["cards"] if card["source"]["topic"]["code"] == "data-unavailable"]
        assert bool(named) == bool(unavailable), (number, plan(number), named)
        assert all(key in named[0] for key in unavailable)


@pytest.fixture
def call_log():
    handler, logger = CallLog(), logging.getLogger("trd_cds.calls")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_concurrent_calls_under_faults_answer_in_time_and_leak_nothing(fhir_stub, call_log, tmp_path):
    app = create_app({"auth": "off", "fhir_deadline_s": DEADLINE_S, "log_level": "INFO",
                      "database_url": f"sqlite:///{tmp_path / 'trd-cds.db'}"})

    def call(number: int):
        return app.test_client().post(PATH, json={**patient_request(number), "fhirServer": fhir_stub})

    def burst() -> list:
        with ThreadPoolExecutor(CALLS) as pool:
            return list(pool.map(call, range(CALLS)))

    assert call(CALLS).status_code == 200  # a call without faults (like every tenth)
    threads = threading.active_count()
    check_answers(burst(), call_log)
    # A leak of even one file per ten calls would add more than FD_SLACK.
    open_fds = functools.partial(open_fds_but_store_and_idle_http, tmp_path)
    assert settled(threading.active_count, threads) <= threads
    fds = settled(open_fds, 0, timeout_s=DEADLINE_S + 0.5)
    check_answers(burst(), call_log)
    assert settled(threading.active_count, threads) <= threads
    assert settled(open_fds, fds + FD_SLACK) <= fds + FD_SLACK
    response = call(CALLS + 10)  # no fault: every read in time (a late one would name its key below)
    assert response.status_code == 200
    assert not [card for card in response.get_json()["cards"]
                if card["source"]["topic"]["code"] == "data-unavailable"]


if __name__ == "__main__":  # the stub (argument: how long "slow" answers take): print its URL, serve
    stub = StubServer(("127.0.0.1", 0), FaultyFhir)
    print(f"http://127.0.0.1:{stub.server_address[1]}/fhir", flush=True)
    stub.serve_forever()
