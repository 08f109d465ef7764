"""Integrator commands that talk to a FHIR server: ``fixtures load`` and ``invoke``."""
from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the FHIR-facing subcommands to the ``trd-cds`` parser."""
