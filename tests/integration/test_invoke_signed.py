"""Clone-to-cards as an integrator does it: keys generate, a service with auth on, invoke signed."""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from cds_service import cli, create_app
from tests.integration.conftest import free_port

ISSUER = "https://test-ehr.example.org"


@pytest.fixture(scope="module")
def signed_setup(loaded_fhir_server, tmp_path_factory):
    """A running service (auth on) that trusts a key made by ``trd-cds keys generate``."""
    folder = tmp_path_factory.mktemp("ehr-keys")
    assert cli.main(["keys", "generate", "--out", str(folder), "--kid", "test-ehr-1"]) == 0
    issuers = folder / "issuers.json"
    issuers.write_text(json.dumps({ISSUER: {
        "jwks_file": "jwks.json", "fhir_servers": [loaded_fhir_server],
        "allow_http_fhir": True, "allow_private_fhir": True}}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"auth": "on", "public_base_url": base, "issuers_file": str(issuers),
                      "database_url": "memory://"})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, str(folder / "test-ehr-1.private.pem")
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("prefetch", [[], ["--no-prefetch"]], ids=["prefetch", "no-prefetch"])
def test_signed_invoke_returns_the_patients_cards(signed_setup, loaded_fhir_server, capsys, prefetch):
    base, key = signed_setup
    status = cli.main(["invoke", "order-sign", "--patient", "trd-cds-met-two-classes",
                       "--fhir-server", loaded_fhir_server, "--service", base, "--sign-key", key,
                       "--issuer", ISSUER, "--json", *prefetch])
    output = capsys.readouterr().out
    assert status == 0, output
    topics = {card["source"]["topic"]["code"] for card in json.loads(output)["cards"]}
    assert "trd-criteria-met" in topics


def test_unsigned_invoke_is_refused_with_the_failed_check(signed_setup, loaded_fhir_server, capsys):
    base, _ = signed_setup
    status = cli.main(["invoke", "order-sign", "--patient", "trd-cds-met-two-classes",
                       "--fhir-server", loaded_fhir_server, "--service", base, "--no-prefetch"])
    assert status == 1
    assert "Authorization" in capsys.readouterr().err
