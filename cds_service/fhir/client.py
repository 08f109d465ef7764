"""A small FHIR R4 REST reader for the EHR's ``fhirServer``: reads and paged searches.

Every request passes through ``FhirClient._get``, with (connect, read) timeouts clipped to the
hook call's ``Deadline``. Errors are typed per HTTP status, as in fhir-py. The bearer token is
sent only to ``base_url`` and the ``next`` links under it (re-based onto it when the server
spells its base differently), and is never logged. Bodies are read up
to ``fhir_max_response_bytes``; the shared session keeps no cookies (its callers are many users).
"""
from __future__ import annotations

import functools
import http.cookiejar
import logging
import os
import threading
import time
from typing import NamedTuple
from urllib.parse import quote

import requests
import urllib3
from requests.sessions import merge_setting
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ReadTimeoutError

from cds_service.config import Settings
from cds_service.fhir.readers import LIMIT as READERS
from cds_service.fhir.watchdog import DeadlineAdapter, deadline_of
from cds_service.fhir.wire import (bundle_resources, diagnostics, indexed_entries, next_link,  # noqa: F401
                                   outcome_diagnostics, parse_json, rebased, retry_after_seconds)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_S = 0.1
READ_CHUNK = 64 * 1024

_session_lock = threading.Lock()
_session: tuple[int, requests.Session] | None = None  # (pid, session): the only module global


class FhirError(Exception):
    """A FHIR read failed; ``str(error)`` is a short reason fit for logs and cards (no token, no URL)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class FhirUnauthorized(FhirError):
    """401: the token was missing, expired or rejected."""


class FhirForbidden(FhirError):
    """403: the token's scopes do not allow this read."""


class FhirNotFound(FhirError):
    """404 or 410."""


class FhirTimeout(FhirError):
    """A timeout, or the hook call's deadline ran out."""


class FhirUnreachable(FhirError):
    """The connection failed (refused, DNS, reset)."""


class SearchResult(NamedTuple):
    resources: list[dict]
    pages: int  # pages read from the server
    truncated: str | None  # why paging stopped early (page cap, loop), else None


class Deadline:
    """The time left for all FHIR reads of one hook call (monotonic clock)."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self._clock = clock
        self._end = clock() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def timeout(self, connect: float, read: float) -> tuple[float, float]:
        """(connect, read) timeouts no longer than the time left; FhirTimeout once it is gone."""
        left = self.remaining()
        if left <= 0:
            raise FhirTimeout(f"deadline of {self.seconds:g} s exceeded")
        return min(connect, left), min(read, left)


def shared_session() -> requests.Session:
    """One pooled ``requests.Session`` per worker process, created on first use.

    It serves every user's calls, so it stores no cookies. ``trust_env`` stays on (deployments may
    need ``HTTPS_PROXY``); ``.netrc`` is never read: ``FhirClient`` prepares its own requests.
    """
    global _session
    with _session_lock:
        if _session is None or _session[0] != os.getpid():
            session = requests.Session()
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            # one keep-alive connection per reader thread (fhir/readers.py) to each of 8 FHIR servers
            adapter = DeadlineAdapter(pool_connections=8, pool_maxsize=READERS, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session = (os.getpid(), session)
        return _session[1]


class FhirClient:
    """Reads from one FHIR base URL with an optional bearer token, under one deadline."""

    def __init__(self, base_url: str, access_token: str | None, settings: Settings,
                 session: requests.Session | None = None, deadline: Deadline | None = None):
        self.base_url = base_url.rstrip("/")
        self._token = access_token
        self.settings = settings
        self.session = session or shared_session()
        self.deadline = deadline or Deadline(settings.fhir_deadline_s)

    def __repr__(self) -> str:  # keeps the token out of tracebacks and debug logs
        return f"FhirClient({self.base_url!r})"

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def read(self, resource_type: str, resource_id: str) -> dict:
        resource = self._get_json(f"{self.base_url}/{resource_type}/{quote(resource_id, safe='')}")
        if resource.get("resourceType") != resource_type:
            raise FhirError(f"malformed: {resource_type} read returned {resource.get('resourceType')}")
        return resource

    def search(self, relative_query: str, first_page_only: bool = False) -> SearchResult:
        """Run a search and follow its ``next`` links; the entry resources of every page.

        ``first_page_only``: latest-value data sorted newest first, where one page is the answer
        (decision-rules §8 v2): further pages are not read and the result is not "read in part".
        """
        url = f"{self.base_url}/{relative_query.lstrip('/')}"
        bundle = self._get_bundle(url)
        if first_page_only:
            return SearchResult(bundle_resources(bundle), 1, None)
        return self.follow(bundle, pages=1, seen={url}, resource_type=relative_query.lstrip("/").split("?")[0])

    def follow(self, bundle: dict, pages: int = 0, seen: set[str] | None = None,
               resource_type: str | None = None) -> SearchResult:
        """``bundle``'s resources plus those of the pages behind its ``next`` links.

        A link to this base under another spelling is re-based onto ``base_url`` (``rebased``);
        one that cannot be keeps the pages read and says why (never a request elsewhere).
        """
        seen = set(seen or ())
        resources = list(bundle_resources(bundle))
        resource_type = resource_type or next((r.get("resourceType") for r in resources), None)
        while (link := next_link(bundle)) is not None:
            url = rebased(link, self.base_url, resource_type)
            if url is None:
                return SearchResult(resources, pages, "paging stopped: next link is not on the FHIR server's base URL")
            if url in seen:
                return SearchResult(resources, pages, "paging stopped: next link repeats")
            if pages >= self.settings.fhir_max_pages:
                return SearchResult(resources, pages, f"paging stopped after {pages} pages")
            seen.add(url)
            bundle = self._get_bundle(url)
            resources.extend(bundle_resources(bundle))
            pages += 1
        return SearchResult(resources, pages, None)

    def _get_bundle(self, url: str) -> dict:
        bundle = self._get_json(url)
        if bundle.get("resourceType") != "Bundle":
            raise FhirError("malformed: search did not return a Bundle")
        return bundle

    def _get_json(self, url: str) -> dict:
        response = self._get(url)
        raw = self._read(response)
        if response.status_code >= 400:
            raise status_error(response.status_code, raw)
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise FhirError("malformed: response is not a JSON FHIR resource", response.status_code)
        return body

    def _read(self, response: requests.Response) -> bytes:
        """The body, up to ``fhir_max_response_bytes``; FhirError beyond. Each receive waits at most
        the time the deadline leaves (socket timeout), so a server that drips its body is cut off
        when the deadline passes and its connection closed."""
        cap, chunks, size = self.settings.fhir_max_response_bytes, [], 0
        too_large = FhirError(f"malformed: response larger than {cap} bytes", response.status_code)
        declared = response.headers.get("Content-Length", "").strip()
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        try:
            if declared.isdigit() and int(declared) > cap:
                raise too_large
            while True:
                left = self.deadline.remaining()
                if left <= 0:
                    raise FhirTimeout(f"deadline of {self.deadline.seconds:g} s exceeded")
                sock = getattr(getattr(response.raw, "connection", None), "sock", None)  # None once released
                if sock is not None:
                    sock.settimeout(min(left, self.settings.fhir_read_timeout_s))
                chunk = response.raw.read1(READ_CHUNK, decode_content=True)  # one receive at most
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise too_large
                chunks.append(chunk)
        except (ReadTimeoutError, TimeoutError):
            raise FhirTimeout("timeout while reading the response") from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise FhirUnreachable("connection failed while reading the response") from None
        finally:
            response.close()
        return b"".join(chunks)

    def _get(self, url: str) -> requests.Response:
        """The one place every outgoing FHIR request passes; the body is left unread (streamed).

        The fhirServer allowlist (cds_service/fhir/egress.py) is applied in routes before any client is
        built; here ``next`` links are held to ``base_url``. Idempotent GET: retried on connection
        errors and 429/502/503/504 with a short backoff (``Retry-After`` honoured) while the
        deadline allows.
        """
        s, request = self.settings, self._request(url)
        for attempt in range(s.fhir_retries + 1):
            timeout = self.deadline.timeout(s.fhir_connect_timeout_s, s.fhir_read_timeout_s)
            try:
                with deadline_of(self.deadline):  # the headers too end at the deadline (fhir/watchdog.py)
                    response = self.session.send(request, timeout=timeout, allow_redirects=False, **self._environment)
            except requests.Timeout as error:
                if isinstance(error, requests.ConnectTimeout) and attempt < s.fhir_retries:
                    self._back_off(attempt, None, "connect timeout")
                    continue
                elapsed = self.deadline.seconds - self.deadline.remaining()
                raise FhirTimeout(f"timeout after {elapsed:.1f} s") from None
            except requests.ConnectionError:
                if self.deadline.remaining() <= 0:  # cut by the watchdog
                    raise FhirTimeout(f"deadline of {self.deadline.seconds:g} s exceeded") from None
                if attempt < s.fhir_retries:
                    self._back_off(attempt, None, "connection error")
                    continue
                raise FhirUnreachable("FHIR server unreachable") from None
            if response.status_code in RETRY_STATUSES and attempt < s.fhir_retries:
                response.close()
                self._back_off(attempt, response.headers.get("Retry-After"), str(response.status_code))
                continue
            return response
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _request(self, url: str) -> requests.PreparedRequest:
        """The GET, prepared here rather than by ``Session.request``, which would also merge cookies
        and headers and look up ``.netrc`` and the proxy environment for every request (a third of
        its CPU)."""
        request = requests.PreparedRequest()
        request.prepare(method="GET", url=url, headers=self._headers)
        return request

    @functools.cached_property
    def _headers(self) -> CaseInsensitiveDict:
        """The session's headers, FHIR JSON ``Accept`` and the bearer token."""
        ours = {"Accept": "application/fhir+json"} | ({"Authorization": f"Bearer {self._token}"} if self._token else {})
        return merge_setting(ours, self.session.headers, dict_class=CaseInsensitiveDict)

    @functools.cached_property
    def _environment(self) -> dict:
        """What the environment sets for ``base_url`` (proxies, CA bundle), looked up once per client:
        every URL this client requests is on that host."""
        return self.session.merge_environment_settings(self.base_url, {}, True, None, None)

    def _back_off(self, attempt: int, retry_after: str | None, why: str) -> None:
        wait = retry_after_seconds(retry_after)
        wait = BACKOFF_S * 2 ** attempt if wait is None else wait
        if wait >= self.deadline.remaining():
            raise FhirTimeout(f"{why}; no time left to retry before the deadline")
        log.info("FHIR GET retry %d after %s in %.2f s", attempt + 1, why, wait)
        time.sleep(wait)


def status_error(status: int, raw: bytes) -> FhirError:
    """The typed error for a 4xx/5xx answer, with the OperationOutcome's diagnostics."""
    detail = diagnostics(parse_json(raw))
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    kind = {401: FhirUnauthorized, 403: FhirForbidden, 404: FhirNotFound, 410: FhirNotFound}
    return kind.get(status, FhirError)(text, status)
