"""Logging set-up on stderr: plain lines (``TRD_CDS_LOG_FORMAT=text``) or one JSON object per line (``json``).

Text: our loggers (``trd_cds.*``, ``cds_service.*``) print ``time level logger message``; the hook-call
summaries (``trd_cds.calls``) are JSON in the message. JSON: one handler on the root logger, so every
logger (ours, Alembic, SQLAlchemy, Flask, Python warnings) prints JSON; a record carrying ``fields`` (the call summary)
prints them as top-level keys. ``cds_service/ops/gunicorn_conf.py`` does the same for gunicorn's logs.
Messages never carry tokens or names: the call summary holds identifiers and timings only.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
OURS = ("trd_cds", "cds_service")
_attached: dict[str, logging.Handler] = {}  # logger name ("" = root) → the handler configure() added


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, then ``fields(record)``, then any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, **self.fields(record)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def fields(self, record: logging.LogRecord) -> dict:
        fields = getattr(record, "fields", None)
        return fields if isinstance(fields, dict) else {"message": record.getMessage()}


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last-resort handler does)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(level: str, form: str = "text") -> None:
    """(Re)attach our stderr handler: to our loggers for text, to the root logger for JSON."""
    for name, handler in list(_attached.items()):
        logging.getLogger(name).removeHandler(handler)
        del _attached[name]
    json_lines = form == "json"
    for name in ("",) if json_lines else OURS:
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(_FORMAT))
        logging.getLogger(name).addHandler(handler)
        _attached[name] = handler
    for name in OURS + (("",) if json_lines else ()):
        logging.getLogger(name).setLevel(level.upper())
    logging.captureWarnings(json_lines)  # Python warnings become log records (py.warnings), JSON too
