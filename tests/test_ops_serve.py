"""``trd-cds serve`` with two gunicorn workers: metrics add up across workers (and survive a killed one)
on the separate metrics address; with TRD_CDS_LOG_FORMAT=json every output line is one JSON object."""
from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import fixtures
from benchmarks.server import free_port, worker_pids
from tests.served import Instance

pytestmark = pytest.mark.integration

SERVICE = "ketamine-esketamine-order-sign"
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
REPLACED_WITHIN_S = 30


def ok_calls(metrics_url: str) -> float:
    text = requests.get(metrics_url, timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "trd_cds_hook_calls_total" and sample.labels == {"service": SERVICE, "outcome": "ok"})


def calls(base: str, clients: int, each: int) -> None:
    def client():
        with requests.Session() as session:  # one connection per client: spread over the workers
            for _ in range(each):
                assert session.post(f"{base}/cds-services/{SERVICE}", json=REQUEST, timeout=30).status_code == 200
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    metrics_port = free_port()
    instance = Instance(tmp_path_factory.mktemp("serve"), {
        "TRD_CDS_AUTH": "off", "TRD_CDS_DATABASE_URL": "memory://", "TRD_CDS_LOG_FORMAT": "json",
        "TRD_CDS_LOG_LEVEL": "INFO", "TRD_CDS_METRICS_BIND": f"127.0.0.1:{metrics_port}"},
        "--workers", "2", "--threads", "2")
    try:
        instance.wait_ready()
        yield instance, f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        instance.stop()


def test_metrics_add_up_across_workers_and_survive_a_killed_worker(served):
    instance, metrics_url = served
    start = ok_calls(metrics_url)
    calls(instance.base, clients=4, each=5)
    assert ok_calls(metrics_url) - start == 20
    assert requests.get(f"{instance.base}/metrics", timeout=10).status_code == 404  # not on the service port

    victim = worker_pids(instance.process)[0]
    os.kill(victim, signal.SIGKILL)
    end = time.monotonic() + REPLACED_WITHIN_S
    while time.monotonic() < end and (victim in worker_pids(instance.process) or len(worker_pids(instance.process)) < 2):
        time.sleep(0.1)
    calls(instance.base, clients=2, each=2)
    assert ok_calls(metrics_url) - start == 24  # the killed worker's counts are kept
    text = requests.get(metrics_url, timeout=10).text
    assert re.search(r'^trd_cds_build_info\{.*\} 1\.0$', text, re.M)


def test_json_logs_one_object_per_line_from_every_logger(served):
    instance, _ = served
    calls(instance.base, clients=1, each=1)
    end = time.monotonic() + 10
    while '"method": "POST"' not in instance.log() and time.monotonic() < end:  # the access line follows the answer
        time.sleep(0.05)
    text = instance.log()
    entries = [json.loads(line) for line in text[:text.rfind("\n")].splitlines()]  # complete lines: all JSON
    assert all(isinstance(entry, dict) and {"time", "level", "logger"} <= set(entry) for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "gunicorn.access", "trd_cds.calls", "cds_service"} <= loggers
    call = next(entry for entry in entries if entry["logger"] == "trd_cds.calls")
    assert {"hookInstance", "service", "status", "ms", "prefetched"} <= set(call)
    access = next(entry for entry in entries if entry["logger"] == "gunicorn.access")
    assert access["path"].startswith("/") and isinstance(access["status"], int) and "ms" in access


def test_the_private_metrics_dir_lives_as_long_as_the_master(tmp_path):
    instance = Instance(tmp_path, {"TRD_CDS_AUTH": "off", "TRD_CDS_DATABASE_URL": "memory://",
                                   "TRD_CDS_LOG_LEVEL": "INFO"}, "--workers", "1")
    try:
        instance.wait_ready()
        folder = Path(re.search(r"metrics files in (\S+)", instance.log()).group(1))
        assert folder.is_dir() and list(folder.glob("*.db"))
    finally:
        instance.stop()
    assert not folder.exists()
