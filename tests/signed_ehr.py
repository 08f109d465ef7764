"""Test helper: an EHR made as an integrator makes one (``trd-cds keys generate``), signing its calls."""
from __future__ import annotations

import json
from pathlib import Path

from cds_service.cli import keys

ISSUER = "https://test-ehr.example.org"
KID = "test-ehr-1"


class SignedEhr:
    """A key pair and the issuers file trusting it, in ``folder``; ``headers(url)`` signs one call."""

    def __init__(self, folder: Path):
        self.private_key, _ = keys.generate_keypair(folder, KID)
        self.issuers_file = folder / "issuers.json"
        self.issuers_file.write_text(json.dumps({ISSUER: {
            "jwks_file": "jwks.json", "fhir_servers": ["https://fhir.example.org/r4/"]}}))

    def token(self, audience: str) -> str:
        return keys.sign_service_token(self.private_key, KID, ISSUER, audience)

    def headers(self, url: str) -> dict[str, str]:
        """Authorization for a POST to ``url`` (a service, or its feedback URL)."""
        return {"Authorization": f"Bearer {self.token(url)}"}
