"""The Flask application factory: settings, policy, store, blueprints, authentication and metrics."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

from flask import Flask

from cds_service.config import PREFIX, Settings


@dataclass
class AppState:
    """What the request handlers share: read-only settings and policy, and the store."""

    settings: Settings
    policy: Any  # hooks.Policy
    store: Any  # cds_service.store.memory.Store
    audits: Any  # cds_service.store.audit.AuditLog: writes audit rows in batches, keeps them while the store fails


def load_settings(config: Settings | Mapping[str, Any] | None = None) -> Settings:
    """Environment variables first, then ``config`` overrides (field names, any case)."""
    if isinstance(config, Settings):
        return config
    values = {key[len(PREFIX):]: value for key, value in os.environ.items() if key.startswith(PREFIX)}
    values.update(config or {})
    return Settings.build(values)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app. ``config`` overrides ``TRD_CDS_*`` environment variables."""
    from hooks import Policy
    from cds_service import logs
    from cds_service.auth import verify
    from cds_service.protocol import openapi, routes
    from cds_service.protocol.services import SERVICES
    from cds_service.errors import register_error_handlers
    from cds_service.ops import metrics
    from cds_service.store.audit import AuditLog
    from cds_service.store.sql import open_store

    settings = load_settings(config)
    logs.configure(settings.log_level, settings.log_format)
    policy = Policy.load(settings.policy_file) if settings.policy_file else Policy()
    app = Flask("cds_service", static_folder=None)  # the preview serves its own static files
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    store = metrics.instrument(open_store(settings.database_url))
    app.extensions["trd_cds"] = AppState(settings, policy, store, AuditLog(store, settings.audit_delay_s))
    register_error_handlers(app)
    metrics.install(app, settings, policy.version, SERVICES)
    app.register_blueprint(routes.cds)
    app.register_blueprint(routes.ops)
    app.register_blueprint(openapi.docs)
    if settings.preview == "on":
        from cds_service.preview import page
        page.install(app, settings)
    verify.install(app, settings, app.extensions["trd_cds"].store.replay_cache())
    logging.getLogger("cds_service").info("trd-cds ready: policy %s, auth %s", policy.version, settings.auth)
    return app
