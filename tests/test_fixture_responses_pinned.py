"""Every fixture request's whole response, pinned: the cards (text, order, uuids, links) stay exact.

tests/data/fixture_responses.json holds, per request file (and for two generated benchmark charts
of benchmarks/payloads.py), the JSON response of the app (prefetch complete, auth off, memory
store), keys in the order the service writes them. The performance work
on the mapping layer must not change a byte of it. When a reviewed change of clinical behaviour
(e.g. a merged branch) changes some cards on purpose, regenerate the snapshot and review its diff:

    python -m tests.test_fixture_responses_pinned
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import fixtures
from benchmarks import payloads

SNAPSHOT = Path(__file__).with_name("data") / "fixture_responses.json"


# Generated charts: many drugs, doses and dates in one request (the fixtures hold a few each).
GENERATED = {"benchmarks:typical": payloads.typical_request, "benchmarks:500": lambda: payloads.sized_request(500)}
NAMES = fixtures.request_files() + sorted(GENERATED)


def response_of(client, request_name: str) -> dict:
    request = GENERATED[request_name]() if request_name in GENERATED else fixtures.load_request_file(request_name)
    response = client.post(f"/cds-services/ketamine-esketamine-{request['hook']}", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def canonical(document: dict) -> str:
    """One form for comparison: key order as written, no whitespace, non-ASCII as is."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _pinned() -> dict[str, dict]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_the_snapshot_covers_every_fixture_request():
    assert sorted(_pinned()) == sorted(NAMES)


@pytest.mark.parametrize("request_name", NAMES)
def test_fixture_response_is_unchanged(client, request_name):
    assert canonical(response_of(client, request_name)) == canonical(_pinned()[request_name])


def write_snapshot() -> None:
    """Regenerate tests/data/fixture_responses.json from the current code (one request per line)."""
    os.environ["TRD_CDS_DATABASE_URL"] = "memory://"
    from cds_service import create_app
    client = create_app({"auth": "off", "log_level": "WARNING"}).test_client()
    lines = [f"{json.dumps(name)}:{canonical(response_of(client, name))}" for name in NAMES]
    SNAPSHOT.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


if __name__ == "__main__":
    write_snapshot()
