"""The README tells the truth: the two commands, every setting, and what CI runs."""
from __future__ import annotations

import re
from pathlib import Path

from cds_service.config import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _first_command(label: str) -> str:
    line = next(line for line in README.splitlines()[:6] if line.startswith(f"**{label}**"))
    return re.search(r"`([^`]+)`", line).group(1)


def test_readme_opens_with_the_two_fresh_machine_commands():
    install = "pip install -r requirements/{}.lock && pip install --no-deps -e ."
    assert _first_command("Run the service").startswith(install.format("service") + " && trd-cds serve")
    assert _first_command("Run the tests") == install.format("dev") + " && pytest"


def test_ci_runs_exactly_the_readme_test_command_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == _first_command("Run the tests")
    assert "python3 -m venv --clear .venv-ci" in ci and ". .venv-ci/bin/activate" in ci


def test_locks_pin_every_requirement_with_hashes():
    for lock in ("service", "dev", "fhir-server", "healthchain"):
        text = (ROOT / "requirements" / f"{lock}.lock").read_text()
        pins = re.findall(r"^([A-Za-z0-9_.\-]+)==\S+ \\$", text, re.M)
        assert pins and text.count("--hash=sha256:") >= len(pins), lock
    dev = (ROOT / "requirements" / "dev.lock").read_text()
    assert all(re.search(rf"^{name}==", dev, re.M | re.I) for name in ("pytest", "schemathesis", "flask"))


def test_every_setting_is_documented():
    names = [name for name in Settings.__dataclass_fields__ if name != "extra"]
    missing = [PREFIX + name.upper() for name in names if f"`{PREFIX}{name.upper()}`" not in README]
    assert not missing


def test_every_policy_default_is_in_the_readme_table():
    from hooks import Policy

    policy = Policy()
    for name in Policy.__dataclass_fields__:
        value = getattr(policy, name)
        shown = ", ".join(value) or "(none: configure per site)" if isinstance(value, tuple) else str(value)
        assert f"| `{name}` | {shown} |" in README, name
