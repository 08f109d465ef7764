"""The ``trd-cds`` command line: serve, routes, version, and the integrator tools."""
from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

from cds_service.cli import fhir, keys, store


def _version() -> str:
    try:
        return metadata.version("trd-cds")
    except metadata.PackageNotFoundError:
        return "0+unknown"


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
    _check_config()
    sys.argv = [
        "gunicorn", "--bind", args.bind, "--workers", str(args.workers), "--threads", str(args.threads),
        "--worker-class", "cds_service.cli.worker.BufferingWorker", "--timeout", str(args.timeout),
        "--graceful-timeout", "10", "--max-requests", "5000", "--max-requests-jitter", "500",
        "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
        "cds_service.wsgi:app",
    ]
    run()
    return 0


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
    print(f"trd-cds {_version()}")
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
    fhir.register(commands)
    keys.register(commands)
    store.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

