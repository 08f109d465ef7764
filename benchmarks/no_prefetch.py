"""Benchmark 4: the typical patient without prefetch, read from a local sekmet-fhir server.

    python -m benchmarks.no_prefetch

Times each prefetch query run directly against the server, alone and all at once from as many
threads, then the hook call (in process) that runs the same queries itself. sekmet-fhir answers
from one process, so queries sent together partly queue there: "all at once" is the floor.
Target: the hook call ≤ 1.3× "all at once".
"""
from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks import payloads
from benchmarks.common import bench_client, machine, post_hook
from benchmarks.server import free_port
from cds_service.fhir.patient_data import render
from cds_service.protocol.services import prefetch_templates
from tests.integration.conftest import sekmet_executable, wait_until_ready

REPEAT = 20


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
                 for resource in ([e["resource"] for e in value["entry"]] if value["resourceType"] == "Bundle"
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


def main() -> None:
    request = payloads.typical_request()
    with fhir_server() as base:
        load(base, request)
        queries = {key: render(template, request["context"]) for key, template in prefetch_templates().items()}
        urls = {key: f"{base}/{query}" for key, query in queries.items()}
        with requests.Session() as session:
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=len(urls)))
            query_ms = {key: statistics.median(timed_get(session, url) for _ in range(REPEAT)) * 1000
                        for key, url in urls.items()}
            together_ms = statistics.median(all_at_once(session, list(urls.values())) for _ in range(REPEAT)) * 1000
        call = {key: value for key, value in request.items() if key != "prefetch"} | {"fhirServer": base}
        body = payloads.body(call)
        with bench_client() as client:
            post_hook(client, body)  # warm-up: connection pool
            hook_ms = statistics.median(post_hook(client, body) for _ in range(REPEAT)) * 1000
    slowest = max(query_ms.values())
    print(f"# no-prefetch path — {machine()}")
    print("FHIR query alone (median of %d): " % REPEAT + ", ".join(f"{k} {v:.1f}" for k, v in query_ms.items()))
    print(f"slowest query {slowest:.1f} ms, sum of queries {sum(query_ms.values()):.1f} ms, "
          f"all at once {together_ms:.1f} ms")
    print(f"hook call {hook_ms:.1f} ms = {hook_ms / together_ms:.2f}× all at once (target ≤ 1.3×), "
          f"{hook_ms / slowest:.2f}× the slowest query; service time beyond the FHIR server's "
          f"{hook_ms - together_ms:.1f} ms")


if __name__ == "__main__":
    main()
