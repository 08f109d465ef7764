"""The ``trd-cds`` command line: serve, routes, version, and the integrator tools."""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile

from cds_service.cli import arguments
from cds_service.config import package_version


# gunicorn's default access log shows the Basic-auth user, the query string and the Referer: none of
# them, since any may carry credentials. Client address, time, method, path, status, size, duration.
ACCESS_LOG_FORMAT = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'


def serve(args: argparse.Namespace) -> int:
    """Run the app under gunicorn: gthread workers (hook calls block on FHIR reads) that read each
    request whole before a thread serves it (cds_service/cli/worker.py: no slow client holds one)."""
    from gunicorn.app.wsgiapp import run

    if args.dev:
        os.environ.setdefault("TRD_CDS_AUTH", "off")
        os.environ.setdefault("TRD_CDS_PREVIEW", "on")
        os.environ.setdefault("TRD_CDS_CORS_ORIGINS", "*")
    metrics_dir, private = _metrics_dir()
    _check_config()
    sys.argv = [
        "gunicorn", "--bind", args.bind, "--workers", str(args.workers), "--threads", str(args.threads),
        "--worker-class", "cds_service.cli.worker.BufferingWorker", "--timeout", str(args.timeout),
        "--graceful-timeout", "10", "--max-requests", "5000", "--max-requests-jitter", "500",
        "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
        "--config", "python:cds_service.ops.gunicorn_conf", "cds_service.wsgi:app",
    ]
    master = os.getpid()
    try:
        run()
    finally:
        if private and os.getpid() == master:  # workers leave through here too
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _metrics_dir() -> tuple[str, bool]:
    """PROMETHEUS_MULTIPROC_DIR for the workers' metric files, set before prometheus_client is imported:
    the operator's (emptied of old files), else a private directory removed when the master stops."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for old in glob.glob(os.path.join(given, "*.db")):
            os.remove(old)
        return given, False
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="trd-cds-metrics-")
    return os.environ["PROMETHEUS_MULTIPROC_DIR"], True


def _check_config() -> None:
    """Fail before gunicorn forks when a TRD_CDS_* value is unusable."""
    from cds_service import create_app
    from cds_service.config import ConfigError

    try:
        create_app()
    except (ConfigError, ValueError) as error:
        raise SystemExit(f"trd-cds: configuration error: {error}") from None


def routes(_args: argparse.Namespace) -> int:
    from cds_service import create_app

    app = create_app({"auth": "off", "database_url": "memory://"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        print(f"{methods:12} {rule.rule}")
    return 0


def version(_args: argparse.Namespace) -> int:
    print(f"trd-cds {package_version()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="trd-cds", description="Ketamine/esketamine CDS Hooks service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the service with gunicorn")
    serve_parser.add_argument("--bind", default=env("TRD_CDS_BIND", "127.0.0.1:8080"))
    serve_parser.add_argument("--workers", type=int, default=int(env("TRD_CDS_WORKERS", "2")))
    serve_parser.add_argument("--threads", type=int, default=int(env("TRD_CDS_THREADS", "4")))
    serve_parser.add_argument("--timeout", type=int, default=int(env("TRD_CDS_WORKER_TIMEOUT", "30")),
                              help="gunicorn worker timeout in seconds")
    serve_parser.add_argument("--dev", action="store_true",
                              help="development mode: auth off, preview on, CORS '*' (never in production)")
    serve_parser.set_defaults(func=serve)

    commands.add_parser("routes", help="list the HTTP routes").set_defaults(func=routes)
    commands.add_parser("version", help="print the version").set_defaults(func=version)
    arguments.register_fhir(commands)
    arguments.register_keys(commands)
    arguments.register_store(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

