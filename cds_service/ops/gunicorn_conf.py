"""gunicorn hooks of ``trd-cds serve`` (``--config python:cds_service.ops.gunicorn_conf``).

- ``when_ready``: with ``TRD_CDS_METRICS_BIND``, the master serves every worker's metrics there.
- ``child_exit``: a worker that ended (or was killed) is marked dead for the multiprocess metrics.
- no control socket (see below).
- ``TRD_CDS_LOG_FORMAT=json``: gunicorn's own error and access logs become JSON lines too (the access
  line: remote address, method, path, status, bytes, ms; never headers or query strings).
"""
from __future__ import annotations

import os

from gunicorn import glogging

from cds_service.logs import JsonFormatter

# gunicorn 27's control socket (~/.gunicorn/gunicorn.ctl) is unused here; two masters on one host would
# fight over it and a read-only container cannot create it. Older gunicorn ignores the unknown name.
control_socket_disable = True


def when_ready(server) -> None:
    server.log.info("metrics files in %s", os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    bind = os.environ.get("TRD_CDS_METRICS_BIND")
    if bind:
        from prometheus_client import start_http_server

        from cds_service.ops.metrics import registry

        host, _, port = bind.rpartition(":")
        start_http_server(int(port), host.strip("[]"), registry=registry())
        server.log.info("metrics of all workers on http://%s/metrics", bind)


def child_exit(_server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class AccessJsonFormatter(JsonFormatter):
    """gunicorn's access record (its ``args`` are the access-log atoms) as JSON fields."""

    def fields(self, record) -> dict:
        atoms = record.args
        return {"remote": atoms["h"], "method": atoms["m"], "path": atoms["U"], "status": int(atoms["s"]),
                "bytes": atoms["B"], "ms": round(int(atoms["D"]) / 1000, 1)}


class JsonLogger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log, formatter in ((self.error_log, JsonFormatter()), (self.access_log, AccessJsonFormatter())):
            for handler in log.handlers:
                handler.setFormatter(formatter)


if os.environ.get("TRD_CDS_LOG_FORMAT") == "json":
    logger_class = JsonLogger
