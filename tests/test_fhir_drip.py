"""A FHIR server that drips its headers or body: every read ends at the call's deadline, its connection
is closed and no thread is left reading (a real socket server on 127.0.0.1; ``responses`` cannot drip)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cds_service.config import Settings
from cds_service.fhir import patient_data
from cds_service.fhir.client import FhirClient, FhirTimeout
from cds_service.protocol.services import REQUIRED_KEYS, prefetch_templates

DEADLINE_S = 0.6
DRIP_S = 0.05  # one byte per DRIP_S: the headers or the body take 15 s or more to arrive
CUT_WITHIN_S = DEADLINE_S + 2.0  # generous: the connection is closed at the deadline
BODY = json.dumps({"resourceType": "Bundle", "type": "searchset"}).encode().ljust(300)
HEADERS = (b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nX-Pad: " + b"x" * 250
           + f"\r\nContent-Length: {len(BODY)}\r\n\r\n".encode())
SETTINGS = Settings(fhir_deadline_s=DEADLINE_S, fhir_retries=0)


class DrippingFhir(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    started: list[float] = []  # when each request arrived, monotonic
    cut: list[float] = []  # when the client closed each connection, monotonic
    drip_headers = False

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).started.append(time.monotonic())
        dripped = HEADERS + BODY if self.drip_headers else BODY
        if not self.drip_headers:
            self.wfile.write(HEADERS)
        try:
            for byte in dripped:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(DRIP_S)
        except OSError:  # the client closed the connection
            type(self).cut.append(time.monotonic())

    def log_message(self, *args):
        pass


@pytest.fixture(params=["body", "headers"])
def dripping(request):
    DrippingFhir.started, DrippingFhir.cut = [], []
    DrippingFhir.drip_headers = request.param == "headers"
    server = ThreadingHTTPServer(("127.0.0.1", 0), DrippingFhir)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def _fhir_threads() -> int:
    return sum(thread.name.startswith("fhir") for thread in threading.enumerate())


def _until(condition, within_s: float) -> bool:
    end = time.monotonic() + within_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


def test_a_dripping_body_is_cut_at_the_deadline_and_its_connection_closed(dripping):
    client = FhirClient(dripping, None, SETTINGS)
    with pytest.raises(FhirTimeout, match="deadline|timeout"):
        client.search("Condition?patient=p1")
    assert client.deadline.remaining() == 0
    # the server notices the closed connection at its next byte, long before its 15 s drip ends
    assert _until(lambda: len(DrippingFhir.cut) == 1, within_s=3.0)
    assert DrippingFhir.cut[0] - DrippingFhir.started[0] < CUT_WITHIN_S


def test_no_fhir_thread_outlives_a_hook_call_whose_reads_drip(dripping):
    payload = {"hookInstance": "h", "fhirServer": dripping, "prefetch": {},
               "context": {"patientId": "p1", "userId": "Practitioner/u1"}}
    templates = prefetch_templates((), 100)
    with pytest.raises(patient_data.PreconditionFailed) as refused:
        patient_data.gather(payload, templates, REQUIRED_KEYS, SETTINGS)
    assert all("deadline" in text or "timeout" in text for text, _field in refused.value.issues)
    assert _until(lambda: _fhir_threads() == 0, within_s=3.0)
    # every read the server began answering was cut (reads still queued at the deadline never start)
    assert DrippingFhir.started and _until(lambda: len(DrippingFhir.cut) == len(DrippingFhir.started), 3.0)
    assert max(cut - start for start, cut in zip(sorted(DrippingFhir.started), sorted(DrippingFhir.cut))) < CUT_WITHIN_S
