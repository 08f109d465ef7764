"""A request's JSON body, decoded as the stdlib ``json`` module would (same values, same 400s), with
msgspec; a hook request's prefetched Bundles keep their entries encoded until the data layer reads
them one at a time (``cds_service.fhir.wire.EncodedBundle``): a 20,000-resource prefetch is never
one tree of dicts (README "Performance").
"""
from __future__ import annotations

import codecs
import json

import msgspec

from cds_service.errors import ApiError
from cds_service.fhir.wire import TOO_MANY_DIGITS, EncodedBundle, EncodedEntry, decode_json

_MEMBERS = dict[str, msgspec.Raw]
_UTF8_CHUNK = 1 << 20


def decode_body(raw: bytes, lazy_prefetch: bool = False):
    """The body's value, or a 400 ApiError naming what is wrong with it."""
    try:
        members = msgspec.json.decode(raw, type=_MEMBERS)
        if not raw.isascii() and not _utf8(raw):  # msgspec does not check the text it skips
            return _stdlib(raw)
        return {name: _prefetch(value) if name == "prefetch" and lazy_prefetch else decode_json(value)
                for name, value in members.items()}
    except (msgspec.DecodeError, RecursionError):  # not an object, or not JSON to msgspec: the stdlib decides
        return _stdlib(raw)


def _prefetch(raw: msgspec.Raw):
    try:
        values = msgspec.json.decode(raw, type=_MEMBERS)
    except msgspec.ValidationError:  # not an object: the schema check names it
        return decode_json(raw)
    return {key: _bundle_or_value(value) for key, value in values.items()}


def _bundle_or_value(raw: msgspec.Raw):
    """An ``EncodedBundle`` for a Bundle whose entries are objects; anything else decoded whole."""
    if memoryview(raw)[:1] != b"{":
        return decode_json(raw)
    members = msgspec.json.decode(raw, type=_MEMBERS)
    if "entry" not in members or decode_json(members.get("resourceType", b"null")) != "Bundle":
        return decode_json(raw)
    try:
        entries = msgspec.json.decode(members.pop("entry"), type=list[EncodedEntry])
    except msgspec.ValidationError:  # entries that are not objects: read as sent, tolerantly
        return decode_json(raw)
    return EncodedBundle({name: decode_json(value) for name, value in members.items()}, entries)


def _utf8(raw: bytes) -> bool:
    """Is ``raw`` UTF-8 as the stdlib reads it (surrogates allowed), checked in bounded chunks?"""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    try:
        for start in range(0, len(raw), _UTF8_CHUNK):
            decoder.decode(raw[start:start + _UTF8_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _reject_constant(name: str):
    raise ApiError(f"request body is not valid JSON: {name} is not a JSON number", "(body)")


def _stdlib(raw: bytes):
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError("request body is not UTF-8 encoded JSON", "(body)") from None
    except json.JSONDecodeError as error:
        raise ApiError(f"request body is not valid JSON: {error.msg} at line {error.lineno} "
                       f"column {error.colno}", "(body)") from None
    except RecursionError:
        raise ApiError("request body is nested too deeply", "(body)") from None
    except ValueError:  # an integer past Python's digits limit (sys.get_int_max_str_digits)
        raise ApiError(TOO_MANY_DIGITS, "(body)") from None
