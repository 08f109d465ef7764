"""``trd-cds serve`` before gunicorn starts: bad settings refused by name, nothing left behind, no
database connection carried into the workers."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from cds_service.cli import _check_config, main


@pytest.fixture
def fresh_start(tmp_path, monkeypatch):
    """Metrics directories go to tmp_path; the variables serve sets are restored afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("PROMETHEUS_MULTIPROC_DIR", "TRD_CDS_AUTH", "TRD_CDS_PREVIEW", "TRD_CDS_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("args, env, named", [
    (["--workers", "0"], {}, "--workers"), (["--threads", "-1"], {}, "--threads"),
    ([], {"TRD_CDS_WORKERS": "abc"}, "--workers"), ([], {"TRD_CDS_WORKER_TIMEOUT": "x"}, "--timeout"),
])
def test_bad_worker_settings_are_refused_by_name(fresh_start, monkeypatch, capsys, args, env, named):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", *args])
    assert stopped.value.code == 2
    assert f"argument {named}: must be a whole number of at least 1" in capsys.readouterr().err


def test_a_refused_configuration_leaves_no_metrics_directory(tmp_path):
    """In a process of its own: serve sets PROMETHEUS_MULTIPROC_DIR before prometheus_client loads."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "TRD_CDS_AUTH": "maybe"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run([sys.executable, "-m", "cds_service.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "configuration error: TRD_CDS_AUTH" in done.stderr
    assert not list(tmp_path.glob("trd-cds-metrics-*"))


def test_the_configuration_check_closes_its_database_before_gunicorn_forks(fresh_start, monkeypatch):
    database = fresh_start / "trd-cds.db"
    monkeypatch.setenv("TRD_CDS_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("TRD_CDS_AUTH", "off")
    _check_config()
    assert database.exists()  # migrated ...
    open_files = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [path for path in open_files if path.startswith(str(database))]  # ... and closed
