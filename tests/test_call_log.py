"""The per-call log line (``trd_cds.calls``): one JSON object whose ``status`` is always the HTTP status
as a number, so log pipelines keep one type per field."""
from __future__ import annotations

import copy
import json
import logging

import fixtures

SIGN = "/cds-services/ketamine-esketamine-order-sign"


def test_status_is_the_http_status_for_answered_out_of_scope_and_412_calls(client, caplog):
    request = fixtures.load_request("met-two-classes", "order-sign")
    out_of_scope = copy.deepcopy(request)
    for entry in out_of_scope["context"]["draftOrders"]["entry"]:
        entry["resource"]["medicationCodeableConcept"] = {"text": "sertraline 50 MG Oral Tablet"}
    no_scores = copy.deepcopy(request)
    no_scores["prefetch"].pop("depressionScores")
    with caplog.at_level(logging.INFO, logger="trd_cds.calls"):
        statuses = [client.post(SIGN, json=body).status_code for body in (request, out_of_scope, no_scores)]
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "trd_cds.calls"]
    assert statuses == [200, 200, 412]
    assert [line["status"] for line in lines] == statuses
    assert [line.get("outOfScope", False) for line in lines] == [False, True, False]
