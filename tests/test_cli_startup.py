"""A quick command line: ``trd-cds version`` and ``--help`` import none of the service's heavy libraries.

Measured in a fresh interpreter (the CPU time itself is in the final report, not asserted: no test
depends on machine speed). ``trd-cds serve`` relies on it too: PROMETHEUS_MULTIPROC_DIR must be set
before prometheus_client is first imported.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("flask", "sqlalchemy", "alembic", "requests", "jwt", "cryptography", "prometheus_client", "gunicorn",
         "jsonschema", "fhir", "hooks", "fhir_mappings", "cds_service.factory")


def modules_after(code: str) -> list[str]:
    probe = f"""import contextlib, io, json, sys
with contextlib.redirect_stdout(io.StringIO()):
    try:
        {code}
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("code", [
    "import cds_service.cli",
    "from cds_service.cli import main; main(['version'])",
    "from cds_service.cli import main; main(['--help'])",
    "from cds_service.cli import main; main(['report', '--help'])",
], ids=["import", "version", "help", "subcommand-help"])
def test_the_quick_commands_import_no_heavy_library(code):
    assert modules_after(code) == []


def test_a_command_still_imports_what_it_needs_when_it_runs(tmp_path):
    code = f"from cds_service.cli import main; main(['keys', 'generate', '--out', {str(tmp_path)!r}])"
    assert "cryptography" in modules_after(code)
    assert (tmp_path / "jwks.json").exists()


def test_version_prints_the_version(capsys):
    from cds_service.cli import main
    from cds_service.config import package_version

    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"trd-cds {package_version()}"
