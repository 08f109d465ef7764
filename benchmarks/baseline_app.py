"""The throughput floors: apps that parse the JSON body and answer ``{"cards": []}``, doing nothing else.

``app`` is bare WSGI; ``flask_app`` is Flask with the service's CORS and security headers
(cds_service/auth/http_security.py), the floor any Flask service of this shape starts from.
"""
from __future__ import annotations

import json

from flask import Flask, jsonify, request

from cds_service.auth import http_security
from cds_service.config import Settings


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        json.loads(environ["wsgi.input"].read(length))
    body = json.dumps({"cards": []}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


flask_app = Flask(__name__)
http_security.install(flask_app, Settings.build({"auth": "off", "cors_origins": "*"}))


@flask_app.post("/cds-services/<service_id>")
def parse_only(service_id: str):
    json.loads(request.get_data(cache=False))
    return jsonify({"cards": []})


@flask_app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
