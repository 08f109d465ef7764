"""Shared fixtures: the app in development auth mode and its test client."""
from __future__ import annotations

import pytest

from cds_service import create_app


@pytest.fixture(autouse=True, scope="session")
def in_memory_store():
    """create_app() without a database_url keeps feedback in memory, never in ./trd-cds.db."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRD_CDS_DATABASE_URL", "memory://")
        yield


@pytest.fixture
def app():
    return create_app({"auth": "off"})


@pytest.fixture
def client(app):
    return app.test_client()
