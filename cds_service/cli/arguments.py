"""Arguments of the integrator subcommands. Each command's module is imported only when it runs, so
``trd-cds version`` and ``trd-cds --help`` start without requests, SQLAlchemy, cryptography or Flask."""
from __future__ import annotations

import argparse
import importlib
import os
import re
from datetime import date

from cds_service.cli.orders import ORDERS

DEFAULT_SERVICE = "http://127.0.0.1:8080"


def lazy(module: str, function: str):
    """A handler that imports ``cds_service.cli.<module>`` when the command runs."""
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(f"cds_service.cli.{module}"), function)(args)
    return run


def register_fhir(commands: argparse._SubParsersAction) -> None:
    """``fixtures load`` and ``invoke`` (cds_service/cli/fhir.py)."""
    fixtures_parser = commands.add_parser("fixtures", help="synthetic fixture patients")
    load = fixtures_parser.add_subparsers(dest="fixtures_command", required=True).add_parser(
        "load", help="load fixture patients into a FHIR server (idempotent: PUT with trd-cds- ids)")
    load.add_argument("--fhir-server", required=True, help="FHIR base URL")
    load.add_argument("--bearer", help="access token for the FHIR server")
    load.add_argument("--patient", action="append", help="fixture patient name (repeatable; default all)")
    load.add_argument("--ids", choices=("client", "server"), default="client",
                      help="client (default): PUT with the fixtures' trd-cds- ids; server: POST and let the "
                           "server assign ids (e.g. Medplum, UUIDs only), printing each Patient's new id")
    load.set_defaults(func=lazy("fhir", "run_fixtures_load"))

    invoke = commands.add_parser("invoke", help="call the service as an EHR would and print the cards")
    invoke.add_argument("hook", choices=("order-select", "order-sign"))
    invoke.add_argument("--patient", required=True, help="Patient id on the FHIR server")
    invoke.add_argument("--fhir-server", required=True, help="FHIR base URL sent as fhirServer")
    invoke.add_argument("--order", action="append", choices=sorted(ORDERS),
                        help="draft order (repeatable; default esketamine-56mg)")
    invoke.add_argument("--service", default=DEFAULT_SERVICE, help=f"service base URL ({DEFAULT_SERVICE})")
    invoke.add_argument("--no-prefetch", action="store_true", help="send no prefetch: the service reads FHIR")
    invoke.add_argument("--json", action="store_true", help="print the raw JSON response")
    invoke.add_argument("--bearer", help="FHIR access token sent as fhirAuthorization")
    env = os.environ.get
    invoke.add_argument("--sign-key", default=env("TRD_CDS_CLIENT_KEY"),
                        help="private key PEM from 'trd-cds keys generate' to sign the CDS Hooks JWT "
                             "(env TRD_CDS_CLIENT_KEY); without it the call is unsigned (service auth off)")
    invoke.add_argument("--issuer", default=env("TRD_CDS_CLIENT_ISSUER"),
                        help="JWT iss: the issuer the service trusts for this key (env TRD_CDS_CLIENT_ISSUER)")
    invoke.add_argument("--kid", default=env("TRD_CDS_CLIENT_KID"),
                        help="JWT kid (default: the key file name, as 'keys generate' writes it)")
    invoke.set_defaults(func=lazy("fhir", "run_invoke"))


def register_keys(commands: argparse._SubParsersAction) -> None:
    """``keys generate`` (cds_service/cli/keys.py)."""
    keys_parser = commands.add_parser("keys", help="client signing keys for CDS Hooks JWTs")
    actions = keys_parser.add_subparsers(dest="keys_command", required=True)
    generate = actions.add_parser("generate", help="write an ES384 private key and add it to DIR/jwks.json")
    generate.add_argument("--out", required=True, metavar="DIR")
    generate.add_argument("--kid", type=_kid, help="key id: letters, digits, '.', '_', '-' (default: the key's "
                                                   "RFC 7638 thumbprint); it names the key file in DIR")
    generate.set_defaults(func=lazy("keys", "generate_command"))


def _kid(value: str) -> str:
    """A key id that is a plain file name: never a path out of --out."""
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", value):
        raise argparse.ArgumentTypeError("must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'")
    return value


def _days(value: str) -> float:
    days = float(value)
    if days < 0:
        raise argparse.ArgumentTypeError("must be 0 or more days")
    return days


def register_store(commands: argparse._SubParsersAction) -> None:
    """``report`` and ``purge`` (cds_service/cli/store.py)."""
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database-url", help="store URL (default: TRD_CDS_DATABASE_URL or its default)")

    report = commands.add_parser("report", parents=[database],
                                 help="cards shown, acceptance and override rates per service, week and topic")
    report.add_argument("--since", type=date.fromisoformat, help="only cards shown on or after YYYY-MM-DD (UTC)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(func=lazy("store", "report_command"))

    purge = commands.add_parser("purge", parents=[database],
                                help="delete audit and feedback rows older than DAYS, and expired replay entries")
    purge.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    purge.set_defaults(func=lazy("store", "purge_command"))
