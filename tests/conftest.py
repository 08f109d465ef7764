"""Shared fixtures: the app in development auth mode and its test client."""
from __future__ import annotations

import pytest

from cds_service import create_app


@pytest.fixture
def app():
    return create_app({"auth": "off"})


@pytest.fixture
def client(app):
    return app.test_client()
