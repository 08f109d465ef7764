"""What a FHIR server or a prefetch sends, read defensively: a Bundle's entries and ``next`` link
(and whether that link stays under the base URL, the only place the token may go), an
OperationOutcome's diagnostics, ``Retry-After``; a prefetched Bundle whose resources stay encoded
until read (``EncodedBundle``). Anything malformed counts as absent.
"""
from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

import msgspec
import requests

from cds_service.errors import ApiError

_DEFAULT_PORTS = {"https": 443, "http": 80}


class EncodedEntry(msgspec.Struct):
    """A Bundle entry whose resource is still encoded (JSON bytes within the request body)."""

    resource: msgspec.Raw = msgspec.Raw(b"null")
    search: Any = None


class EncodedBundle(dict):
    """A prefetched Bundle: its members as decoded, except ``entry``, kept as ``entries`` whose
    resources are decoded only when read (``bundle_resources``), one at a time, so that a large
    prefetch never exists as one tree of dicts. Made by ``cds_service.protocol.body``."""

    def __init__(self, members: dict, entries: list[EncodedEntry]):
        super().__init__(members)
        self.entries = entries
        self._kept: list[tuple[int, msgspec.Raw]] | None = None

    def kept_entries(self) -> list[tuple[int, msgspec.Raw]]:
        """(entry index, encoded resource) of each entry ``bundle_resources`` keeps."""
        if self._kept is None:
            self._kept = [(index, entry.resource) for index, entry in enumerate(self.entries)
                          if memoryview(entry.resource)[:1] == b"{" and not _outcome(entry.search)]
        return self._kept


class PatientLinks(msgspec.Struct):
    """The members of a resource that say whose it is; reads like the resource dict for ``get``."""

    resourceType: Any = None
    id: Any = None
    subject: Any = None
    patient: Any = None

    def get(self, name: str, default=None):
        return getattr(self, name, default)


class EncodedResources:
    """The resources of an ``EncodedBundle``, each decoded anew when iterated (nothing is kept)."""

    def __init__(self, encoded: list[tuple[int, msgspec.Raw]]):
        self.encoded = encoded

    def __iter__(self) -> Iterator[dict]:
        return (decode_json(raw) for _, raw in self.encoded)


def decode_json(raw: bytes | msgspec.Raw, type=Any):
    """JSON as the stdlib decodes it; msgspec first (faster), the stdlib for what msgspec refuses
    and the stdlib accepts (numbers beyond a float, UTF-8 encoded surrogates). Nesting too deep to
    decode where it is read is the 400 the body would have had."""
    try:
        try:
            return msgspec.json.decode(raw, type=type)
        except msgspec.DecodeError:
            value = _stdlib_value(raw)
            return value if type is Any else msgspec.convert(value, type)
    except RecursionError:
        raise ApiError("request body is nested too deeply", "(body)") from None


def _stdlib_value(raw: bytes | msgspec.Raw):
    try:
        return json.loads(bytes(raw))
    except ValueError:  # the structure was read already: an integer past Python's 4,300 digits
        raise ApiError(TOO_MANY_DIGITS, "(body)") from None


TOO_MANY_DIGITS = "request body is not valid JSON: a number has more than 4300 digits"


def bundle_resources(bundle: dict) -> list[dict] | EncodedResources:
    """The entry resources of a Bundle, without ``search.mode = outcome`` entries."""
    if isinstance(bundle, EncodedBundle):
        return EncodedResources(bundle.kept_entries())
    return [resource for _, resource in indexed_entries(bundle)]


def indexed_entries(bundle: dict) -> list[tuple[int, Any]]:
    """(entry index, resource) for each entry ``bundle_resources`` keeps; of an ``EncodedBundle``,
    only the members that say whose each resource is (``PatientLinks``)."""
    if isinstance(bundle, EncodedBundle):
        return [(index, decode_json(raw, PatientLinks)) for index, raw in bundle.kept_entries()]
    return [(index, entry["resource"]) for index, entry in enumerate(_list(bundle.get("entry")))
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict) and not _outcome(entry.get("search"))]


def _outcome(search) -> bool:
    return isinstance(search, dict) and search.get("mode") == "outcome"


def next_link(bundle: dict) -> str | None:
    """The URL of the Bundle's ``next`` link; None when there is none or it is not a non-empty string."""
    return next((link["url"] for link in _list(bundle.get("link"))
                 if isinstance(link, dict) and link.get("relation") == "next"
                 and isinstance(link.get("url"), str) and link["url"]), None)


def under_base(url: str, base_url: str) -> bool:
    """Is ``url`` on ``base_url``'s scheme, host and port, with a path at or below its path?

    HAPI's ``{base}?_getpages=…`` and ``{base}/Type?…&_offset=…`` qualify; another path on the same
    host, credentials in the URL, dot segments or backslashes do not.
    """
    target, base = _origin_and_path(url), _origin_and_path(base_url)
    return target is not None and base is not None and target[:3] == base[:3] and target[3].startswith(base[3])


def rebased(url: str, base_url: str, resource_type: str | None = None) -> str | None:
    """``url`` when it is under ``base_url``; else the same page on ``base_url`` when the link is
    that FHIR base under another spelling (host alias, proxy name, HAPI's ``server_address``;
    decision-rules §8 v2): a search page whose path ends in ``/<resource_type>``, or HAPI's
    ``{base}?_getpages=…``. Only the query is kept, so the token never goes to another host.
    None when the link cannot be re-based.
    """
    if under_base(url, base_url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.query:
        return None
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if resource_type and last == resource_type:
        candidate = f"{base_url.rstrip('/')}/{resource_type}?{parts.query}"
    elif "_getpages=" in parts.query:
        candidate = f"{base_url.rstrip('/')}?{parts.query}"
    else:
        return None
    return candidate if under_base(candidate, base_url) else None


def _origin_and_path(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    segments = unquote(parts.path).split("/")
    if "." in segments or ".." in segments or any("\\" in segment for segment in segments):
        return None
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port, parts.path.rstrip("/") + "/"


def outcome_diagnostics(response: requests.Response) -> str:
    """The diagnostics of an OperationOutcome answer (read whole: for the CLI's own requests)."""
    return diagnostics(parse_json(response.content))


def diagnostics(body) -> str:
    """Each issue's ``diagnostics`` or ``details.text``, joined; whatever is not text is skipped."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts = []
    for issue in (issue for issue in _list(body.get("issue")) if isinstance(issue, dict)):
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        texts += [text for text in (issue.get("diagnostics"), details.get("text")) if isinstance(text, str) and text][:1]
    return "; ".join(texts)


def parse_json(raw: bytes):
    """The parsed body, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _list(value) -> list:
    """A Bundle's ``entry`` or ``link`` as sent; anything but a list counts as none."""
    return value if isinstance(value, list) else []
