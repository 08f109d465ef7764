"""The throughput baseline: a bare WSGI app that parses the JSON body and answers ``{"cards": []}``."""
from __future__ import annotations

import json


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        json.loads(environ["wsgi.input"].read(length))
    body = json.dumps({"cards": []}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
