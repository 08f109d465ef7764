"""A real FHIR server for the integration tests: sekmet-fhir 0.1.1 on 127.0.0.1, fixtures loaded.

The server runs from its own venv (``TRD_CDS_FHIR_VENV``, default ``.venv-fhir`` at the repo root;
created with pip when missing) with a throwaway store, and is stopped by its PID at the end.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cds_service.cli import fhir as cli_fhir
from cds_service.protocol.services import prefetch_templates

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "fhir-server.lock"  # sekmet-fhir 0.1.1 and its dependencies
START_TIMEOUT_S = 90  # a bound on a loaded machine, not a speed check


def sekmet_executable() -> Path:
    venv = Path(os.environ.get("TRD_CDS_FHIR_VENV", REPO / ".venv-fhir"))
    executable = venv / "bin" / "sekmet"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--require-hashes", "-r", str(LOCK)], check=True)
    return executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"FHIR server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(f"{base_url}/metadata", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"FHIR server not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory) -> str:
    """Base URL of a fresh, empty sekmet FHIR server (simulator off, no traffic log)."""
    executable = sekmet_executable()
    workdir = tmp_path_factory.mktemp("fhir-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/fhir"
    settings = workdir / "settings.yaml"
    settings.write_text(f"host: 127.0.0.1\nport: {port}\nbase_url: {base_url}\n"
                        f"db_path: {workdir / 'sekmet.db'}\n"
                        "simulator:\n  enabled: false\nlog_inbound: false\n")
    log = workdir / "server.log"
    with log.open("wb") as output:
        command = [str(executable), "serve", "-c", str(settings), "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def first_load(fhir_server):
    """Entry counts of the first ``trd-cds fixtures load`` (every fixture patient)."""
    result = cli_fhir.load_fixtures(fhir_server)
    assert not result.errors, result.errors
    return result.counts


@pytest.fixture(scope="session")
def loaded_fhir_server(fhir_server, first_load) -> str:
    """Base URL of the FHIR server holding every fixture patient."""
    return fhir_server


@pytest.fixture(scope="session")
def ehr_request(loaded_fhir_server):
    """``make(hook, patient_id, orders, prefetch=True)``: a CDS Hooks request as an EHR builds it
    against the test FHIR server, with the discovery templates prefetched or no prefetch at all."""
    def make(hook: str, patient_id: str, orders=("esketamine-56mg",), prefetch: bool = True) -> dict:
        request = cli_fhir.build_request(hook, patient_id, loaded_fhir_server, orders)
        if prefetch:
            request["prefetch"] = cli_fhir.prefetch_from_server(request, prefetch_templates())
        return request
    return make
