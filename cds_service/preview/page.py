"""Card preview page (development only): a fixture patient and an order → the real hook call → cards.

The request is built from the bundled fixtures by the fixtures' own generator (patient bundle →
prefetch as the templates would fetch it, draft orders dated like the fixture data) and posted
in-process to ``POST /cds-services/{id}``; the page then renders the cards as an EHR would and
its script sends real CDS Hooks feedback.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, render_template, request
from markdown_it import MarkdownIt
from markupsafe import Markup

import fixtures
from cds_service.config import PREFIX, ConfigError, Settings
from cds_service.errors import ApiError
from cds_service.protocol.services import REQUIRED_KEYS, configured_templates
from fixtures import build

preview = Blueprint("preview", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/preview/static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
FIXTURE_ORDER = "fixture"
ORDERS = {  # name → (label, order spec of the fixtures generator)
    FIXTURE_ORDER: ("The fixture's own order", None),
    "esketamine-28mg": ("Esketamine 28 mg intranasal, twice weekly", build.Order("esketamine", 28)),
    "esketamine-56mg": ("Esketamine 56 mg intranasal, twice weekly", build.Order("esketamine", 56)),
    "esketamine-84mg": ("Esketamine 84 mg intranasal, twice weekly", build.Order("esketamine", 84)),
    "ketamine-iv-mgkg": ("Ketamine 0.5 mg/kg IV over 40 min", build.KETAMINE),
    "ketamine-iv-1.2mgkg": ("Ketamine 1.2 mg/kg IV over 40 min", build.Order("ketamine", 1.2, "mg/kg", minutes=40)),
    "ketamine-iv-mg": ("Ketamine 40 mg IV over 40 min", build.Order("ketamine", 40, "mg", minutes=40)),
    "sertraline": ("Sertraline 50 mg by mouth daily (not ketamine)", build.SERTRALINE_ORDER),
}
INDICATOR_ICONS = {"info": "i", "warning": "!", "critical": "×"}
markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class Choice:
    """What the reviewer picked: fixture patient, order, hook and the optional prefetch keys that fail."""

    patient: str
    order: str
    hook: str
    failing: tuple[str, ...]

    @classmethod
    def from_args(cls, args, optional_keys: list[str]) -> "Choice":
        choice = cls(args.get("patient", "met-two-classes"), args.get("order", FIXTURE_ORDER),
                     args.get("hook", "order-sign"), tuple(args.getlist("fail")))
        for field, value, allowed in (("patient", choice.patient, fixtures.patient_names()),
                                      ("order", choice.order, ORDERS), ("hook", choice.hook, fixtures.HOOKS)):
            if value not in allowed:
                raise ApiError(f"unknown {field} {value!r}", field)
        if set(choice.failing) - set(optional_keys):
            raise ApiError(f"only optional prefetch keys can fail: {', '.join(optional_keys)}", "fail")
        return choice


def install(app: Flask, settings: Settings) -> None:
    """Serve ``/preview``; it calls the service without a JWT, so only in development mode."""
    if settings.auth != "off":
        raise ConfigError(f"{PREFIX}PREVIEW=on needs {PREFIX}AUTH=off (development mode only)")
    app.register_blueprint(preview)


def hook_request(choice: Choice) -> dict:
    """The CDS Hooks request for ``choice``: prefetch from the patient bundle, a fresh hookInstance."""
    bundle = fixtures.load_patient_bundle(choice.patient)
    own = [entry["resource"] for entry in bundle["entry"] if entry["resource"] not in build.SHARED]
    order = ORDERS[choice.order][1] or next(spec.order for spec in build.PATIENTS if spec.name == choice.patient)
    payload = build.hook_request(choice.patient, choice.hook, own, (order,), failed=choice.failing)
    return payload | {"hookInstance": str(uuid.uuid4())}


@preview.get("/preview")
def page():
    settings = current_app.extensions["trd_cds"].settings
    optional_keys = [key for key in configured_templates(settings) if key not in REQUIRED_KEYS]
    choice = Choice.from_args(request.args, optional_keys)
    payload = hook_request(choice)
    service_id = f"ketamine-esketamine-{choice.hook}"
    answer = current_app.test_client().post(f"/cds-services/{service_id}", json=payload)
    body = answer.get_json(silent=True) or {}
    fixture = fixtures.expected().get(f"{choice.patient}.{choice.hook}.json", {})
    html = render_template(
        "preview.html", choice=choice, patients=fixtures.patient_names(), orders=ORDERS, hooks=fixtures.HOOKS,
        optional_keys=optional_keys, why=fixture.get("why"), service_id=service_id, status=answer.status_code,
        cards=[card_view(card) for card in body.get("cards", [])],
        request_json=json.dumps(payload, indent=2), response_json=json.dumps(body, indent=2))
    return html, {"Content-Security-Policy": CSP}


def card_view(card: dict) -> dict:
    """The card with its detail rendered (markdown, raw HTML escaped) and only http(s) links kept."""
    source = card.get("source", {})
    return card | {
        "icon": INDICATOR_ICONS.get(card.get("indicator"), "?"),
        "detail_html": Markup(markdown.render(card.get("detail", ""))),
        "source_url": web_url(source.get("url")),
        "links": [link | {"url": web_url(link.get("url"))} for link in card.get("links", [])],
    }


def web_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None (never a javascript: or data: link)."""
    return url if isinstance(url, str) and urlsplit(url).scheme in ("http", "https") else None
