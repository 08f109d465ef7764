"""``trd-cds serve`` (a real gunicorn on 127.0.0.1, default workers and threads) against hostile clients.

Slow clients hold no thread (cds_service/cli/worker.py); a stalled request is answered 408 and
closed; a body over the limit is 413 whether chunked or not; the access log holds no credential.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import fixtures
from benchmarks.server import free_port, stop, wait_until_ready

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
READ_TIMEOUT_S = 3
SLOW_CLIENTS = 50
PATH = "/cds-services/ketamine-esketamine-order-sign"
REQUEST = fixtures.load_request("met-two-classes", "order-sign")
SECRETS = ("h15-basic-user", "h15-query-token", "h15-referer-token")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, log file) of ``trd-cds serve --dev``; stopped by its PID at the end."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    # no gunicorn control socket: it is one path per user, shared with any other gunicorn on the host
    env = {**os.environ, "TRD_CDS_READ_TIMEOUT_S": str(READ_TIMEOUT_S), "TRD_CDS_DATABASE_URL": "memory://",
           "GUNICORN_CMD_ARGS": "--no-control-socket"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--dev", "--bind",
                                    f"127.0.0.1:{port}"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with open(log_path, "rb") as log:
            wait_until_ready(f"{base}/healthz", process, log)
        yield base, log_path
    finally:
        stop(process, timeout_s=20)


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_fifty_slow_clients_do_not_hold_up_hook_calls(served):
    base, _ = served
    head = f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n".encode()
    slow = []
    for _ in range(SLOW_CLIENTS):  # one at a time, so that every worker process accepts its share
        slow.append(_connect(base))
        slow[-1].send(head[:1])
        time.sleep(0.02)
    stop = threading.Event()

    def drip():  # one more byte of each request head every 0.3 s, never the end of it
        for index in range(1, len(head) - 4):
            for sock in slow:
                sock.send(head[index:index + 1])
            if stop.wait(0.3):
                return

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        time.sleep(0.5)
        with requests.Session() as normal:  # kept alive between its calls
            for _ in range(3):
                response = normal.post(f"{base}{PATH}", json=REQUEST, timeout=2)
                assert response.status_code == 200 and response.json()["cards"]
            assert normal.get(f"{base}/healthz", timeout=2).status_code == 200
        for sock in slow:  # still held open: nothing answered yet
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        stop.set()
        dripper.join()
        for sock in slow:
            sock.close()


def test_a_stalled_body_is_answered_408_and_closed(served):
    base, _ = served
    with _connect(base) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                     f"Content-Length: 1000\r\n\r\n{{\"hook\":".encode())
        sock.settimeout(READ_TIMEOUT_S + 10)  # generous: the server decides at READ_TIMEOUT_S (+1 s tick)
        answer = _read_all(sock)  # ends because the server closed the connection
    assert answer.startswith(b"HTTP/1.1 408 ")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert json.loads(body)["issue"][0]["code"] == "timeout"
    assert json.loads(body)["issue"][0]["expression"] == ["(request)"]
    assert b"X-Content-Type-Options: nosniff" in head and b"Cache-Control: no-store" in head


def _chunked(data: bytes, piece: int = 65536):
    for start in range(0, len(data), piece):
        yield data[start:start + piece]


@pytest.mark.parametrize("body", ["valid 6 MB", "junk 10 MB"])
@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_a_body_over_the_limit_is_413_chunked_or_not(served, body, framing):
    base, _ = served
    if body == "valid 6 MB":
        request = json.loads(json.dumps(REQUEST))
        request["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "x" * 6_000_000}]
        data = json.dumps(request).encode()
    else:
        data = b"x" * 10_000_000
    sent = _chunked(data) if framing == "chunked" else data
    response = requests.post(f"{base}{PATH}", data=sent, headers={"Content-Type": "application/json"}, timeout=20)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"
    assert response.json()["issue"][0]["expression"] == ["(body)"]  # like the app's 413 and nginx's
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and "default-src 'none'" in \
        response.headers["Content-Security-Policy"]


def test_a_chunked_body_within_the_limit_is_served(served):
    base, _ = served
    response = requests.post(f"{base}{PATH}", data=_chunked(json.dumps(REQUEST).encode(), 1000),
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 200 and response.json()["cards"]


def test_expect_100_continue_is_answered_before_the_body(served):
    base, _ = served
    body = json.dumps(REQUEST).encode()
    with _connect(base) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"100 Continue" not in answer


def test_the_access_log_holds_no_credential(served):
    base, log_path = served
    user, query_token, referer_token = SECRETS
    requests.get(f"{base}/cds-services?access_token={query_token}", auth=(user, "pw"),
                 headers={"Referer": f"https://ehr.example.org/?token={referer_token}"}, timeout=5)
    time.sleep(0.5)  # the access log line is written after the answer
    log = log_path.read_text()
    assert '"GET /cds-services HTTP/1.1" ' in log
    assert not [secret for secret in SECRETS if secret in log]


@pytest.mark.parametrize("requests_sent", [
    [b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"] * 3,
    [b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: "
     + str(len(json.dumps(REQUEST))).encode() + b"\r\n\r\n" + json.dumps(REQUEST).encode(),
     b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
     b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
], ids=["three GETs", "hook call, 415 with an unread body, GET"])
def test_pipelined_requests_are_all_answered(served, requests_sent):
    """Requests sent in one write are answered in order on the kept-alive connection."""
    base, _ = served
    with _connect(base) as sock:
        sock.sendall(b"".join(requests_sent))
        answers, deadline = b"", time.monotonic() + 30
        while answers.count(b"HTTP/1.1 ") < len(requests_sent) and time.monotonic() < deadline:
            answers += sock.recv(65536)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)
    expected = [b"200"] * 3 if len(requests_sent) == 3 and b"healthz" in requests_sent[1] else [b"200", b"415", b"200"]
    assert statuses == expected, answers[:3000]
