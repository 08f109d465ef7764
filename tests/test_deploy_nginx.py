"""deploy/nginx/trd-cds.conf run by Debian's nginx in front of a real ``trd-cds serve`` on loopback.

The production file is used as written, except the addresses and certificate paths that only make
sense inside compose (each replacement must match, so the test follows the file). The service runs
with one worker thread: a slow client reaching it would hold the whole service.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests

import fixtures
from benchmarks.server import free_port
from cds_service.protocol.services import SERVICES
from tests.served import Instance
from tests.signed_ehr import SignedEhr

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SERVICE = next(s.id for s in SERVICES.values() if s.hook == "order-sign")
START_TIMEOUT_S = 10


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found is None:
        message = "nginx not found (apt-get install nginx-light)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """The README's self-signed example, for 127.0.0.1."""
    cert, key = folder / "cds.crt", folder / "cds.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def site_config(upstream_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    text = (ROOT / "deploy" / "nginx" / "trd-cds.conf").read_text()
    for old, new in {"server cds:8080;": f"server 127.0.0.1:{upstream_port};",
                     "listen 80;": f"listen 127.0.0.1:{http_port};",
                     "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
                     "/etc/nginx/tls/cds.crt": str(cert), "/etc/nginx/tls/cds.key": str(key)}.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def main_config(folder: Path, site: Path) -> str:
    """A top-level nginx.conf like Debian's, with every path in ``folder``."""
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                          "scgi"))
    return f"""{user}
worker_processes 1;
daemon off;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {folder / 'access.log'};
    {temp}
    include {site};
}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(https base URL, CA file, http base URL, signed EHR, the service Instance) with nginx in front."""
    binary = nginx_binary()
    folder = tmp_path_factory.mktemp("nginx")
    cert, key = self_signed_certificate(folder)
    https_port, http_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"
    ehr = SignedEhr(folder)
    service = Instance(folder, {"TRD_CDS_PUBLIC_BASE_URL": public, "TRD_CDS_ISSUERS_FILE": str(ehr.issuers_file),
                                "TRD_CDS_DATABASE_URL": "memory://", "TRD_CDS_LOG_LEVEL": "INFO"},
                       "--workers", "1", "--threads", "1")
    nginx = None
    try:
        service.wait_ready()
        site = folder / "trd-cds.conf"
        site.write_text(site_config(service.port, https_port, http_port, cert, key))
        (folder / "nginx.conf").write_text(main_config(folder, site))
        checked = subprocess.run([binary, "-t", "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")],
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen([binary, "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(https_port, nginx, folder / "error.log")
        yield public, str(cert), f"http://127.0.0.1:{http_port}", ehr, service
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=15)
        service.stop()


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        assert process.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx not listening after {START_TIMEOUT_S} s:\n{log.read_text()}")


def hook_request(marker: str) -> bytes:
    request = fixtures.load_request("met-two-classes", "order-sign")
    return json.dumps({**request, "hookInstance": marker}).encode()


def test_a_signed_hook_call_is_answered_through_nginx_over_tls(stack):
    public, ca, _, ehr, _ = stack
    url = f"{public}/cds-services/{SERVICE}"
    response = requests.post(url, data=hook_request("3f6c1d1e-0000-4000-8000-000000000001"), verify=ca, timeout=30,
                             headers={**ehr.headers(url), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert "trd-criteria-met" in {card["source"]["topic"]["code"] for card in response.json()["cards"]}
    unsigned = requests.post(url, data=hook_request("3f6c1d1e-0000-4000-8000-000000000002"), verify=ca, timeout=30,
                             headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401  # auth is the service's, not nginx's


def test_a_slow_client_is_held_by_nginx_and_never_reaches_the_single_worker_thread(stack):
    public, ca, _, ehr, service = stack
    url = f"{public}/cds-services/{SERVICE}"
    slow_call = "3f6c1d1e-0000-4000-8000-000000000003"  # its hookInstance: in the call log once served
    body = hook_request(slow_call)
    head = (f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {ehr.token(url)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    context = ssl.create_default_context(cafile=ca)
    port = int(public.rsplit(":", 1)[1])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                             server_hostname="127.0.0.1") as slow:
        slow.sendall(head + body[: len(body) // 2])  # then stalls mid-body

        # The only worker thread is free: another call goes through while the slow one is held.
        other = requests.post(url, data=hook_request("3f6c1d1e-0000-4000-8000-000000000004"), verify=ca, timeout=30,
                              headers={**ehr.headers(url), "Content-Type": "application/json"})
        assert other.status_code == 200, other.text
        assert slow_call not in service.log()

        slow.sendall(body[len(body) // 2:])  # complete: only now is it passed on
        answer = _read_all(slow)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"trd-criteria-met" in answer
    assert slow_call in service.log()


def test_a_body_over_the_limit_is_refused_by_nginx_with_an_operation_outcome(stack):
    public, ca, _, ehr, service = stack
    url = f"{public}/cds-services/{SERVICE}"
    response = requests.post(f"{url}?probe=large", data=b" " * (5 * 1024 * 1024 + 1), verify=ca, timeout=60,
                             headers={**ehr.headers(url), "Content-Type": "application/json"})
    requests.get(f"{public}/healthz", verify=ca, timeout=30)  # logged after anything sent before it
    assert response.status_code == 413
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "too-long"
    assert "probe=large" not in service.log()


def test_metrics_are_not_served_through_nginx_and_http_redirects_to_https_except_the_health_check(stack):
    public, ca, http, _, _ = stack
    assert requests.get(f"{public}/metrics", verify=ca, timeout=30).status_code == 404
    redirect = requests.get(f"{http}/cds-services", allow_redirects=False, timeout=30)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
    assert requests.get(f"{http}/nginx-health", timeout=30).text == "ok\n"  # the container's health check
    assert requests.get(f"{public}/healthz", verify=ca, timeout=30).json() == {"status": "ok"}


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
