"""Logging set-up: plain lines on stderr; hook-call summaries are JSON lines (routes.call_log)."""
from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str) -> None:
    """Attach one stderr handler to the ``trd_cds`` and ``cds_service`` loggers (idempotent)."""
    for name in ("trd_cds", "cds_service"):
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
