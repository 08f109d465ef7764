"""TRD_CDS_LOG_FORMAT: json gives one JSON object per line on every logger; text keeps plain lines."""
from __future__ import annotations

import json
import logging
import warnings

import pytest

from cds_service import create_app, logs


@pytest.fixture
def json_logs():
    logs.configure("INFO", "json")
    yield
    logs.configure("INFO", "text")
    logging.getLogger().setLevel(logging.WARNING)


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_every_logger_prints_one_json_object_per_line(json_logs, capsys):
    logging.getLogger("alembic.runtime.migration").info("Running upgrade %s", "0001")
    logging.getLogger("trd_cds.calls").info("summary", extra={"fields": {"hookInstance": "h-1", "status": 412}})
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("cds_service.errors").exception("unexpected")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning)
    alembic, call, error, warning = lines(capsys)
    assert alembic["logger"] == "alembic.runtime.migration" and alembic["message"] == "Running upgrade 0001"
    assert call["hookInstance"] == "h-1" and call["status"] == 412 and "message" not in call
    assert error["level"] == "ERROR" and "RuntimeError: boom" in error["exception"]
    assert warning["logger"] == "py.warnings" and "deprecated thing" in warning["message"]


def test_a_hook_call_logs_its_summary_fields_as_json(json_logs, capsys):
    import fixtures

    client = create_app({"auth": "off", "log_format": "json"}).test_client()
    request = fixtures.load_request("met-two-classes", "order-sign")
    capsys.readouterr()
    assert client.post("/cds-services/ketamine-esketamine-order-sign", json=request).status_code == 200
    call = next(entry for entry in lines(capsys) if entry["logger"] == "trd_cds.calls")
    assert call["hookInstance"] == request["hookInstance"] and call["status"] == "ok" and call["cards"] >= 1
    assert request["context"]["patientId"] not in json.dumps(call)


def test_text_format_is_plain_lines_on_our_loggers(capsys):
    logs.configure("INFO", "text")
    logging.getLogger("trd_cds.calls").info("plain")
    err = capsys.readouterr().err
    assert err.endswith(" INFO trd_cds.calls plain\n")
    assert not logging.getLogger().handlers or all(not isinstance(h, logs.StderrHandler)
                                                    for h in logging.getLogger().handlers)


def test_an_unknown_log_format_is_refused():
    from cds_service.config import ConfigError

    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app({"log_format": "xml"})
