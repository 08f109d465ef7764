"""The HealthChain peer: HealthChain's CDS Hooks service answering order-sign with one fixed card, doing nothing else.

Written as HealthChain 0.16.1's own starter (``healthchain new --template cds-hooks``: a HealthChainAPI, a
CDSHooksService, one hook returning a CDSResponse), with our hook and service id; HealthChain parses the
request into its CDSRequest model and serialises the CDSResponse. Runs in HealthChain's venv
(requirements/healthchain.lock), never ours, under uvicorn as ``healthchain serve`` runs it; it answers at
HealthChain's default path, ``/cds/cds-services/<id>`` (benchmarks.server.healthchain_command).
"""
from healthchain.gateway import HealthChainAPI
from healthchain.gateway.cds import CDSHooksService
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import CDSResponse

app = HealthChainAPI(title="HealthChain peer", description="One fixed card, no other work")
cds = CDSHooksService()


@cds.hook("order-sign", id="ketamine-esketamine-order-sign", title="One fixed card")
def order_sign(request: CDSRequest) -> CDSResponse:
    return CDSResponse(cards=[{"summary": "Fixed card", "detail": "The same card for every request.",
                               "indicator": "info", "source": {"label": "HealthChain peer"}}])


app.register_service(cds)
