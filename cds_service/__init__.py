"""trd-cds: a CDS Hooks 2.0 service for ketamine and esketamine orders.

``create_app`` lives in ``cds_service.factory`` and is imported on first use, so that the command
line (``trd-cds version``, ``--help``) starts without Flask, SQLAlchemy or the rules.
"""
from __future__ import annotations

_FACTORY = ("AppState", "create_app", "load_settings")


def __getattr__(name: str):
    if name in _FACTORY:
        from cds_service import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'cds_service' has no attribute {name!r}")
