"""SQLite specifics and store selection: pragmas, relative paths, memory://, unsupported URLs,
and committed feedback surviving a SIGKILLed service process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cds_service import create_app
from cds_service.config import ConfigError
from cds_service.store.sql import SQLStore, feedback, open_store
from cds_service.store.memory import MemoryStore
from tests.store.records import FEEDBACK_PATH

ACKNOWLEDGED_BEFORE_KILL = 300
REPO = Path(__file__).resolve().parents[2]

POSTER = textwrap.dedent(f"""
    import sys, uuid
    from cds_service import create_app
    client = create_app({{"auth": "off", "database_url": sys.argv[1], "log_level": "ERROR"}}).test_client()
    for number in range(1, 1_000_000):
        card = str(uuid.UUID(int=number))
        item = {{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:00:00Z"}}
        response = client.post("{FEEDBACK_PATH}", json={{"feedback": [item]}})
        if response.status_code == 200 and response.get_json()["stored"] == 1:
            print(card, flush=True)
""")


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/trd-cds.db")
    try:
        with store.engine.connect() as connection:
            values = [connection.execute(text(f"PRAGMA {name}")).scalar_one()
                      for name in ("journal_mode", "busy_timeout", "foreign_keys")]
        assert values == ["wal", 10_000, 1]
    finally:
        store.close()


def test_relative_sqlite_path_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///relative.db").close()
    assert (tmp_path / "relative.db").is_file()


def test_memory_url_gives_the_in_process_store():
    assert isinstance(open_store("memory://"), MemoryStore)


@pytest.mark.parametrize("url", ["mysql://db/trd", "oracle://db/trd"])
def test_unsupported_database_is_a_configuration_error(url):
    with pytest.raises(ConfigError, match="TRD_CDS_DATABASE_URL"):
        open_store(url)


def test_app_uses_the_configured_sqlite_store_and_is_ready(tmp_path):
    app = create_app({"auth": "off", "database_url": f"sqlite:///{tmp_path}/trd-cds.db"})
    assert isinstance(app.extensions["trd_cds"].store, SQLStore)
    assert app.test_client().get("/readyz").status_code == 200


def test_acknowledged_feedback_survives_a_killed_service(tmp_path):
    url = f"sqlite:///{tmp_path}/trd-cds.db"
    poster = subprocess.Popen([sys.executable, "-c", POSTER, url], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    acknowledged = []
    try:
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
            line = poster.stdout.readline()
            assert line, "the posting process ended before it was killed"
            acknowledged.append(line.strip())
        poster.send_signal(signal.SIGKILL)
        acknowledged += poster.stdout.read().split()  # acknowledged between the last read and the kill
    finally:
        poster.kill()
        poster.wait()
    assert poster.returncode == -signal.SIGKILL
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            stored = set(connection.scalars(select(feedback.c.card_uuid)))
    finally:
        store.close()
    assert set(acknowledged) <= stored
