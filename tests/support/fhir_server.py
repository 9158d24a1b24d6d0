"""A small FHIR R4 fixture server for integration tests, run as its own process:

    python -m tests.support.fhir_server --port P --data FILE.json [--page-size N] [--token T]

Serves the resources of a JSON Bundle (or array): ``GET /fhir/{type}/{id}`` and
``GET /fhir/{type}?patient=…`` (also ``subject``, ``beneficiary``; ``status``, ``use``, ``code``
tokens), paged with absolute ``next`` links. With ``{"batch": true}`` its CapabilityStatement
lists the ``batch`` interaction and ``POST /fhir`` answers a ``batch`` Bundle of GET entries with a
``batch-response`` (FHIR R4 http.html#transaction), the entries worked in parallel: one batch waits
the longest ``slow`` of its entries' types, once. Failure modes are switched at run time with
``POST /_control`` ``{"fail": [types], "slow": {type: seconds}, "redirect": [types],
"foreign_next": [types], "batch": bool}``; ``GET /_log`` returns what was asked (method, path,
query, whether the bearer token matched; a batch is its POST and then each of its entries,
marked ``batch``) so tests can assert
what the service fetched and with which credentials.
:class:`FhirFixture` is a test's handle on a running one.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from flask import Flask, Response, jsonify, request

REF_PARAMS = {"patient": ("subject", "patient", "beneficiary"), "subject": ("subject",),
              "beneficiary": ("beneficiary",)}


def _load(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return [e["resource"] for e in data.get("entry", [])]
    return list(data)


def _codes(resource: dict) -> set[str]:
    out: set[str] = set()
    concept = resource.get("code") or {}
    for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
        out.add(f"{coding.get('system', '')}|{coding.get('code')}")
        out.add(str(coding.get("code")))
    return out


def _matches(resource: dict, params: dict[str, str]) -> bool:
    for name, value in params.items():
        if name.startswith("_"):
            continue
        if name in REF_PARAMS:
            refs = set()
            for field in REF_PARAMS[name]:
                ref = resource.get(field)
                if isinstance(ref, dict):
                    refs.add(ref.get("reference"))
            wanted = value if "/" in value else f"Patient/{value}"
            if wanted not in refs:
                return False
        elif name == "code":
            if not _codes(resource) & set(value.split(",")):
                return False
        elif name in ("status", "use") and resource.get(name) is not None and resource.get(name) != value:
            return False
    return True


def create_app(resources: list[dict], page_size: int = 50, token: str | None = None) -> Flask:
    app = Flask(__name__)
    store: dict[str, dict[str, dict]] = {}
    for r in resources:
        store.setdefault(r["resourceType"], {})[r["id"]] = r
    modes: dict = {"fail": [], "slow": {}, "redirect": [], "foreign_next": [], "batch": False}
    control: dict = dict(modes)
    log: list[dict] = []
    lock = threading.Lock()

    def _log(path: str, query: str, batch: bool = False) -> None:
        auth = request.headers.get("Authorization", "")
        log.append({"method": "GET" if batch else request.method, "path": path, "query": query, "batch": batch,
                    "token_ok": token is None or auth == f"Bearer {token}", "auth": bool(auth)})

    def _record(rtype: str) -> Response | None:
        auth = request.headers.get("Authorization", "")
        with lock:
            _log(request.path, request.query_string.decode())
            delay = control["slow"].get(rtype, 0)
        if token is not None and auth != f"Bearer {token}":
            return Response(status=401)
        if delay:
            time.sleep(delay)
        if rtype in control["fail"]:
            return jsonify(resourceType="OperationOutcome",
                           issue=[{"severity": "error", "code": "exception"}]), 500
        if rtype in control["redirect"]:
            return Response(status=302, headers={"Location": "http://127.0.0.2:9/stolen"})
        return None

    @app.post("/_control")
    def set_control():
        with lock:
            control.update(modes)
            control.update(request.get_json(force=True))
        return jsonify(control)

    @app.get("/_log")
    def get_log():
        with lock:
            return jsonify(list(log))

    @app.delete("/_log")
    def clear_log():
        with lock:
            log.clear()
        return Response(status=204)

    @app.get("/fhir/metadata")
    def metadata():
        interactions = [{"code": "batch"}] if control["batch"] else []
        return jsonify(resourceType="CapabilityStatement", status="active", fhirVersion="4.0.1", kind="instance",
                       format=["json"], rest=[{"mode": "server", "interaction": interactions}])

    @app.post("/fhir")
    def batch():
        auth = request.headers.get("Authorization", "")
        with lock:
            _log(request.path, "")
        if not control["batch"]:
            return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "not-supported"}]), 405
        if token is not None and auth != f"Bearer {token}":
            return Response(status=401)
        body = request.get_json(force=True)
        entries = body.get("entry", []) if body.get("type") == "batch" else None
        if entries is None:
            return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "invalid"}]), 400
        out, delay = [], 0.0
        for entry in entries:
            req = entry.get("request", {})
            url = urlsplit(req.get("url", ""))
            rtype, _, rid = url.path.partition("/")
            with lock:
                _log(f"/fhir/{url.path}", url.query, batch=True)
                delay = max(delay, control["slow"].get(rtype, 0))
            if req.get("method") != "GET":
                out.append({"response": {"status": "405 Method Not Allowed"}})
            elif rtype in control["fail"]:
                out.append({"response": {"status": "500 Internal Server Error"},
                            "resource": {"resourceType": "OperationOutcome",
                                         "issue": [{"severity": "error", "code": "exception"}]}})
            elif rid:
                resource = store.get(rtype, {}).get(rid)
                out.append({"response": {"status": "200 OK"}, "resource": resource} if resource is not None
                           else {"response": {"status": "404 Not Found"}})
            else:
                out.append({"response": {"status": "200 OK"},
                            "resource": _search(rtype, dict(parse_qsl(url.query)), url.query)})
        if delay:
            time.sleep(delay)
        return Response(json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": out}),
                        mimetype="application/fhir+json")

    @app.get("/fhir/<rtype>/<rid>")
    def read(rtype: str, rid: str):
        problem = _record(rtype)
        if problem is not None:
            return problem
        resource = store.get(rtype, {}).get(rid)
        if resource is None:
            return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "not-found"}]), 404
        return Response(json.dumps(resource), mimetype="application/fhir+json")

    @app.get("/fhir/<rtype>")
    def search(rtype: str):
        problem = _record(rtype)
        if problem is not None:
            return problem
        return Response(json.dumps(_search(rtype, dict(request.args.items()), request.query_string.decode())),
                        mimetype="application/fhir+json")

    def _search(rtype: str, params: dict[str, str], query: str) -> dict:
        page = int(params.pop("_page", "0"))
        size = int(params.get("_count", page_size))
        hits = [r for r in store.get(rtype, {}).values() if _matches(r, params)]
        chunk = hits[page * size:(page + 1) * size]
        base = request.host_url.rstrip("/") + "/fhir"
        bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
                        "link": [{"relation": "self", "url": f"{base}/{rtype}?{query}"}],
                        "entry": [{"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r,
                                   "search": {"mode": "match"}} for r in chunk]}
        if (page + 1) * size < len(hits):
            nxt_base = "http://evil.invalid/fhir" if rtype in control["foreign_next"] else base
            bundle["link"].append({"relation": "next",
                                   "url": f"{nxt_base}/{rtype}?{urlencode({**params, '_page': page + 1})}"})
        return bundle

    return app


class FhirFixture:
    """A running fixture FHIR server, seen from a test: its FHIR base, its failure switches, its log."""

    def __init__(self, base: str) -> None:
        self.root = base
        self.base = f"{base}/fhir"

    def control(self, **modes) -> None:
        requests.post(f"{self.root}/_control", json=modes, timeout=5).raise_for_status()

    def log(self) -> list[dict]:
        return requests.get(f"{self.root}/_log", timeout=5).json()

    def reset(self) -> None:
        self.control()
        requests.delete(f"{self.root}/_log", timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--token", help="bearer token every FHIR request must carry")
    parser.add_argument("--keep-alive", action="store_true",
                        help="serve with gunicorn (one worker), which keeps connections open as EHR FHIR "
                             "servers do; werkzeug's server closes each one (the bench measures with this)")
    args = parser.parse_args()
    app = create_app(_load(args.data), args.page_size, args.token)
    if args.keep_alive:
        import socket

        from cds_service.gunicorn_conf import Application

        @app.before_request
        def no_delay() -> None:
            # As real FHIR servers do: without TCP_NODELAY a kept-alive answer written in two parts
            # waits for the client's delayed ACK (~40 ms on loopback). gunicorn sets it on the
            # listening socket, which Linux copies to accepted ones; set here, it does not depend on that.
            sock = request.environ.get("gunicorn.socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # One worker: the /_control switches live in its memory. Threads for every query in flight
        # (the bench's 8 clients x ~12 parallel queries, each held by the injected latency).
        Application(lambda: app, {"bind": f"127.0.0.1:{args.port}", "workers": 1, "worker_class": "gthread",
                                  "threads": 128, "keepalive": 30, "accesslog": None, "loglevel": "warning"}).run()
        return
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", args.port, app, threaded=True)


if __name__ == "__main__":
    main()
