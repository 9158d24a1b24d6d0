"""A JWK Set published over loopback HTTP from a thread, counting its fetches: the ``jwks_url`` or
``jku`` of a test client, for the JWKS fetch, cache and refusal tests."""

from __future__ import annotations

import json
import threading


class JwksHost:
    """A loopback HTTP server (in a thread) that publishes a JWK Set and counts fetches."""

    def __init__(self) -> None:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        self.keys: dict = {"keys": []}
        self.raw: bytes | None = None  # served instead of ``keys`` when set (hostile answers)
        self.hits: list[str] = []

        @Request.application
        def app(request):
            self.hits.append(request.path)
            if request.path == "/jwks.json":
                body = self.raw if self.raw is not None else json.dumps(self.keys)
                return Response(body, mimetype="application/json")
            return Response("not found", status=404)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
