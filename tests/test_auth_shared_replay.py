"""With a SQL store, a jti seen by one worker is refused by every other worker sharing the database."""
from __future__ import annotations

from test_auth_support import BASE, bearer, failed_check, signers, write_issuers  # noqa: F401 (fixtures)

from cds_service import create_app


def test_token_replayed_to_another_worker_is_refused(tmp_path, write_issuers, signers):
    config = {"public_base_url": BASE, "auth": "on", "issuers_file": write_issuers(),
              "database_url": f"sqlite:///{tmp_path}/shared.db"}
    first, second = create_app(config).test_client(), create_app(config).test_client()
    token = signers["es384"].token()

    assert first.get("/cds-services", headers=bearer(token)).status_code == 200
    assert failed_check(second.get("/cds-services", headers=bearer(token))) == "jwt.jti"
    assert second.get("/cds-services", headers=bearer(signers["es384"].token())).status_code == 200
