"""Finding a JWT's verification key in the JWK Sets configured for its issuer.

Remote sets are fetched only from URLs in the issuers file (``jwks_url`` or an allowed ``jku``),
over HTTPS, without following redirects, with a timeout; they are cached for ``jwks_cache_s`` and
re-fetched early when a token names an unknown ``kid``, at most once per ``MIN_REFRESH_S``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

import requests

from cds_service.auth.issuers import TrustedIssuer

MIN_REFRESH_S = 30.0
MAX_JWKS_BYTES = 256 * 1024
security_log = logging.getLogger("trd_cds.security")


class JwksCache:
    """Remote JWK Sets by URL, fetched on demand and kept for ``ttl_s`` seconds."""

    def __init__(self, timeout_s: float, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._sets: dict[str, tuple[float, tuple[dict, ...]]] = {}
        self._lock = threading.Lock()

    def find_key(self, issuer: TrustedIssuer, kid: str, jku: str | None) -> dict | None:
        """The JWK with ``kid`` among the issuer's file keys and its remote set (``jku`` if given)."""
        url = jku or issuer.jwks_url
        key = _by_kid(issuer.jwks, kid)
        if key is None and url:
            key = _by_kid(self._keys(url, refresh=False), kid)
            if key is None:
                key = _by_kid(self._keys(url, refresh=True), kid)
        return key

    def _keys(self, url: str, refresh: bool) -> tuple[dict, ...]:
        with self._lock:  # one fetch at a time keeps a burst of unknown kids from fanning out
            now = self._clock()
            fetched_at, keys = self._sets.get(url, (None, ()))
            age = None if fetched_at is None else now - fetched_at
            if age is None or age >= self._ttl_s or (refresh and age >= MIN_REFRESH_S):
                keys = _fetch(url, self._timeout_s) or keys  # a failed fetch keeps the stale set
                self._sets[url] = (now, keys)
            return keys


def _fetch(url: str, timeout_s: float) -> tuple[dict, ...]:
    try:
        with requests.get(url, timeout=timeout_s, allow_redirects=False, stream=True,
                          headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = _read_capped(response)
        keys = json.loads(body)["keys"]
        if not isinstance(keys, list):
            raise ValueError("'keys' is not a list")
    except (requests.RequestException, ValueError, KeyError, TypeError, RecursionError) as error:
        security_log.warning("JWKS fetch from %s failed: %s", url, error)
        return ()
    return tuple(key for key in keys if isinstance(key, dict) and key.get("kid"))


def _read_capped(response: requests.Response) -> bytes:
    """The body, refused (ValueError) past ``MAX_JWKS_BYTES`` without reading the rest."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
    body = b""
    for chunk in response.iter_content(16 * 1024):
        body += chunk
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
    return body


def _by_kid(keys: tuple[dict, ...], kid: str) -> dict | None:
    return next((key for key in keys if key.get("kid") == kid), None)
