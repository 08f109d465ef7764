"""Benchmark 4: the typical patient without prefetch, read from a local sekmet-fhir server.

    python -m benchmarks.no_prefetch

Times each prefetch query run directly against the server, alone and all at once from as many
threads (through ``requests``), then the hook call (in process) that runs the same queries itself,
and reads the service's own FHIR time (``fhirMs``) from its call log. sekmet-fhir answers from one
process, so queries sent together partly queue there: "all at once" is the floor. Target: the hook
call ≤ 1.3× "all at once". Then the same against a stub FHIR server that answers each query after
20 ms, all concurrently; target: the hook call ≤ 1.5× the slowest single query. Both ratios are
printed for both servers.
"""
from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import requests

from benchmarks import payloads
from benchmarks.common import bench_app, machine, post_hook, timed_call
from benchmarks.server import free_port
from cds_service.fhir.patient_data import render
from cds_service.protocol.services import prefetch_templates
from tests.integration.conftest import sekmet_executable, wait_until_ready

REPEAT = 20
STUB_DELAY_S = 0.020  # a FHIR server that takes 20 ms per query, however many arrive together


@contextlib.contextmanager
def fhir_server():
    """Base URL of a fresh sekmet-fhir on 127.0.0.1 (as tests/integration starts it)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    with tempfile.TemporaryDirectory() as workdir:
        settings = Path(workdir, "settings.yaml")
        settings.write_text(f"host: 127.0.0.1\nport: {port}\nbase_url: {base}\ndb_path: {workdir}/sekmet.db\n"
                            "simulator:\n  enabled: false\nlog_inbound: false\n")
        log = Path(workdir, "server.log")
        with log.open("wb") as output:
            process = subprocess.Popen([str(sekmet_executable()), "serve", "-c", str(settings)], cwd=workdir,
                                       stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(base, process, log)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=15)


def load(base: str, request: dict) -> None:
    """PUT the request's patient, encounter and every prefetched resource in one transaction."""
    resources = [resource for value in request["prefetch"].values() if value
                 for resource in ([e["resource"] for e in value.get("entry", [])] if value["resourceType"] == "Bundle"
                                  else [value])]
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                        for r in resources]}
    response = requests.post(base, data=json.dumps(bundle), timeout=60,
                             headers={"Content-Type": "application/fhir+json"})
    response.raise_for_status()


def timed_get(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    response = session.get(url, headers={"Accept": "application/fhir+json"}, timeout=10)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    if response.json().get("link") and any(link["relation"] == "next" for link in response.json()["link"]):
        raise SystemExit(f"{url} has more than one page; the benchmark times single pages")
    return elapsed


def all_at_once(session: requests.Session, urls: list[str]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(lambda url: timed_get(session, url), urls))
    return time.perf_counter() - started


def stub_answers(request: dict, queries: dict[str, str]) -> dict[str, dict]:
    """The prefetch value of each key, by its unquoted query: what a FHIR server would answer."""
    return {unquote(query): request["prefetch"][key] for key, query in queries.items() if request["prefetch"].get(key)}


@contextlib.contextmanager
def delayed_stub(answers: dict[str, dict], delay_s: float):
    """Yield (base URL, unknown-query counter) of a FHIR stub on 127.0.0.1, in its own process, that
    answers every query after ``delay_s``, all concurrently; an unknown query gets an empty Bundle.
    The bodies are serialised once, here: the stub's own CPU stays out of the delay."""
    misses = multiprocessing.Value("i", 0)
    bodies = {query: json.dumps(answer).encode() for query, answer in answers.items()}
    empty = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK wait

        def do_GET(self):  # noqa: N802 (http.server's name)
            time.sleep(delay_s)
            body = bodies.get(unquote(self.path.split("/fhir/", 1)[-1]))
            if body is None:
                body = empty
                with misses.get_lock():
                    misses.value += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # the first call's 12 connections arrive at once: none waits for a SYN retry (1 s)

    server = Server(("127.0.0.1", free_port()), Handler)
    process = multiprocessing.get_context("fork").Process(target=server.serve_forever, daemon=True)
    process.start()
    server.socket.close()  # the stub's process serves it; this one only connects
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", misses
    finally:
        process.terminate()
        process.join(timeout=5)


class CallLog(logging.Handler):
    """Collects the service's per-call log fields (cds_service/protocol/routes.py ``_log_call``)."""

    def __init__(self):
        super().__init__()
        self.calls: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.calls.append(record.fields)


@contextlib.contextmanager
def call_log():
    """The call log's fields while in this block, not printed. The egress warning that auth off
    logs for every call (a loopback fhirServer; with auth on an allowed server logs nothing) is
    silenced too."""
    calls, security = logging.getLogger("trd_cds.calls"), logging.getLogger("trd_cds.security")
    saved = calls.level, calls.propagate, security.level
    handler = CallLog()
    calls.setLevel(logging.INFO)
    calls.propagate = False
    security.setLevel(logging.ERROR)
    calls.addHandler(handler)
    try:
        yield handler.calls
    finally:
        calls.removeHandler(handler)
        calls.setLevel(saved[0])
        calls.propagate = saved[1]
        security.setLevel(saved[2])


def measure(base: str, request: dict, queries: dict[str, str]) -> dict:
    """Medians in ms: each query alone, all at once, the hook call that runs them itself, its own
    FHIR time (``fhirMs``) and the CPU time of this process per call."""
    urls = {key: f"{base}/{query}" for key, query in queries.items()}
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=len(urls)))
        alone = {key: statistics.median(timed_get(session, url) for _ in range(REPEAT)) * 1000
                 for key, url in urls.items()}
        together = statistics.median(all_at_once(session, list(urls.values())) for _ in range(REPEAT)) * 1000
    call = {key: value for key, value in request.items() if key != "prefetch"} | {"fhirServer": base}
    body = payloads.body(call)
    with bench_app() as app, call_log() as calls:
        post_hook(app, body)  # warm-up: connection pool, reader threads
        wall, cpu = zip(*(timed_call(app, body) for _ in range(REPEAT)))
    fetched = [c for c in calls[1:] if len(c["fetched"]) == len(queries) and not c["unavailable"]]
    if len(fetched) != REPEAT:
        raise SystemExit(f"only {len(fetched)} of {REPEAT} hook calls fetched every key: {calls[-1]}")
    return {"alone": alone, "slowest": max(alone.values()), "together": together,
            "hook": statistics.median(wall) * 1000, "cpu": statistics.median(cpu) * 1000,
            "fhir": statistics.median(c["fhirMs"] for c in fetched)}


def report(name: str, figures: dict, target: str) -> str:
    """One line: the floors, the hook call, its FHIR time and both ratios (the target's first)."""
    ratios = {"all at once": figures["hook"] / figures["together"], "slowest": figures["hook"] / figures["slowest"]}
    shown = [target] + [key for key in ratios if key != target]
    return (f"{name}: slowest query {figures['slowest']:.1f} ms, sum {sum(figures['alone'].values()):.1f} ms, "
            f"all at once {figures['together']:.1f} ms; hook call {figures['hook']:.1f} ms (its fhirMs "
            f"{figures['fhir']:.0f}, CPU {figures['cpu']:.1f} ms) = " + ", ".join(f"{ratios[key]:.2f}× {key}" for key in shown))


def main() -> None:
    request = payloads.typical_request()
    queries = {key: render(template, request["context"]) for key, template in prefetch_templates().items()}
    with fhir_server() as base:
        load(base, request)
        sekmet = measure(base, request, queries)
    with delayed_stub(stub_answers(request, queries), STUB_DELAY_S) as (base, misses):
        stub = measure(base, request, queries)
    print(f"# no-prefetch path — {machine()}")
    print(f"sekmet-fhir, each query alone (median of {REPEAT}): "
          + ", ".join(f"{k} {v:.1f}" for k, v in sekmet["alone"].items()))
    print(report("sekmet-fhir", sekmet, "all at once") + " (target ≤ 1.3× all at once)")
    print(report(f"stub answering after {STUB_DELAY_S * 1000:.0f} ms, concurrently", stub, "slowest")
          + " (target ≤ 1.5× the slowest)" + (f"; {misses.value} unknown queries answered empty" if misses.value else ""))


if __name__ == "__main__":
    main()
