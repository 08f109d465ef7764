"""Request authentication (CDS Hooks JWT). Installed on every CDS endpoint by create_app."""
from __future__ import annotations

from flask import Flask

from cds_service.config import Settings


def install(app: Flask, settings: Settings) -> None:
    """Register authentication for the CDS endpoints."""
