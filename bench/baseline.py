"""The bare-Flask baseline: the least a CDS service can do per call, under the same gunicorn settings
as ``painpa serve`` (cds_service.gunicorn_conf.options). It reads and parses the request body,
checks the hook name and returns one fixed card: no JWT, no policy, no database, no FHIR.

    python -m bench.baseline --port P [--workers 2]
"""

from __future__ import annotations

import argparse
import json

from flask import Flask, jsonify, request

from cds_service.gunicorn_conf import Application, options

CARD = {"uuid": "7f1d3c1e-0000-4000-8000-000000000001", "summary": "Prior authorization required",
        "indicator": "info", "detail": "Fixed card from the bare-Flask baseline.",
        "source": {"label": "baseline", "topic": {"system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
                                                   "code": "coverage-info"}}}


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/cds-services/<service_id>")
    def call(service_id: str):
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return jsonify(error="not JSON"), 400
        if not isinstance(body, dict) or not isinstance(body.get("hook"), str):
            return jsonify(error="no hook"), 400
        return jsonify(cards=[CARD], systemActions=[])

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    Application(create_app, options(host=args.host, port=args.port, workers=args.workers)).run()


if __name__ == "__main__":
    main()
