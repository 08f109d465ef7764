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
    assert _first_command("Run the service").startswith("pip install -e . && trd-cds serve")
    assert _first_command("Run the tests") == "pip install -e '.[dev]' && pytest"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == _first_command("Run the tests")


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
