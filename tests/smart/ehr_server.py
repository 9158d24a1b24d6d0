"""A small EHR for the SMART app tests, run as a real process: an authlib authorization server
(SMART App Launch 2.2 EHR and standalone launch, PKCE S256 required, private_key_jwt or
client_secret_basic, rotating refresh tokens) and an in-memory FHIR R4 server (read, search by
patient/status/code/use, atomic transaction with urn:uuid references). It records what it received
at ``/_test/log`` so tests can check the requests the app made (CC-57…CC-63).

Modes (``EHR_MODE``): ``normal``, ``no-s256`` (discovery without S256), ``v1`` (v1 scopes only),
``relative`` (relative endpoint URLs), ``foreign-next`` (search Bundles carry a next link to
``EHR_FOREIGN_URL``).
Run: ``python -m tests.smart.ehr_server PORT``.
"""

from __future__ import annotations

import os
import secrets
import time

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox.auth.server import SmartPKCE
from tests.smart.ehr_fhir import BASE, FAIL_WRITES, FHIR, LOCK, LOG, MODE, PORT, TOKENS
from tests.smart.ehr_fhir import bp as fhir_bp

TOKEN_TTL = int(os.environ.get("EHR_TOKEN_TTL", "3600"))
LAUNCHES: dict[str, dict] = {}
CODES: dict[str, dict] = {}
REFRESH: dict[str, dict] = {}     # refresh token -> record
USED_JTI: set[str] = set()

app = Flask(__name__)
app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True


class Client:
    def __init__(self) -> None:
        self.client_id = os.environ.get("EHR_CLIENT_ID", "painpa-app")
        self.secret = os.environ.get("EHR_CLIENT_SECRET") or None
        self.jwks_url = os.environ.get("EHR_CLIENT_JWKS_URL")
        self.redirect_uris = os.environ.get("EHR_REDIRECT_URIS", "").split()

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact string match (SMART 2.2)

    def check_client_secret(self, secret):
        return self.secret is not None and secrets.compare_digest(secret, self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == ("client_secret_basic" if self.secret else "private_key_jwt")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


CLIENT = Client()


class Code(dict):
    def get_redirect_uri(self):
        return self["redirect_uri"]

    def get_scope(self):
        return self["scope"]

    def get_nonce(self):
        return None

    def get_auth_time(self):
        return None

    @property
    def code_challenge(self):
        return self["code_challenge"]

    @property
    def code_challenge_method(self):
        return self["code_challenge_method"]


class Refresh(dict):
    def check_client(self, client):
        return client.client_id == CLIENT.client_id

    def get_scope(self):
        return self["scope"]

    def is_expired(self):
        return False

    def is_revoked(self):
        return self.get("revoked", False)


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        return [BASE + "/auth/token"]

    def validate_jti(self, claims, jti):
        with LOCK:
            if jti in USED_JTI:
                return False
            USED_JTI.add(jti)
            return True

    def process_assertion_claims(self, assertion, resolve_key):
        # SMART 2.2 servers SHALL accept ES384 and RS384; joserfc's default list omits them.
        from joserfc.errors import JoseError

        try:
            token = jwt.decode(assertion, resolve_key, algorithms=["ES384", "RS384"])
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims

    def resolve_client_public_key(self, client):
        # The app's published JWKS, fetched like a real EHR would (registered jwks_url).
        return KeySet.import_key_set(requests.get(client.jwks_url, timeout=5).json())


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]

    def save_authorization_code(self, code, req):
        data = req.payload.data
        context = LAUNCHES.pop(data.get("launch"), None) if data.get("launch") else None
        if context is None:
            context = {"patient": os.environ.get("EHR_STANDALONE_PATIENT", "pat-1")}
        CODES[code] = Code(redirect_uri=data["redirect_uri"], scope=data.get("scope", ""),
                           code_challenge=data.get("code_challenge"),
                           code_challenge_method=data.get("code_challenge_method"), context=context)

    def query_authorization_code(self, code, client):
        return CODES.get(code)

    def delete_authorization_code(self, authorization_code):
        for k, v in list(CODES.items()):
            if v is authorization_code:
                del CODES[k]

    def authenticate_user(self, authorization_code):
        return {"id": "practitioner-1", "context": authorization_code["context"]}


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        rec = REFRESH.get(refresh_token)
        return rec if rec and not rec.get("revoked") else None

    def authenticate_user(self, refresh_token):
        return {"id": "practitioner-1", "context": refresh_token["context"], "refresh": True}

    def revoke_old_credential(self, refresh_token):
        refresh_token["revoked"] = True


def save_token(token, req):
    user = req.user
    record = {"scope": token.get("scope", ""), "context": user["context"], "expires": time.time() + TOKEN_TTL}
    TOKENS[token["access_token"]] = record
    if token.get("refresh_token"):
        REFRESH[token["refresh_token"]] = Refresh(scope=record["scope"], context=user["context"])
    token["expires_in"] = TOKEN_TTL
    if not user.get("refresh"):
        token.update({k: v for k, v in user["context"].items() if v is not None})


server = AuthorizationServer(app, query_client=lambda cid: CLIENT if cid == CLIENT.client_id else None,
                             save_token=save_token)
server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
server.register_grant(CodeGrant, [SmartPKCE(required=True)])  # S256 only, as the sandbox's EHR
server.register_grant(RefreshGrant)
app.register_blueprint(fhir_bp)


@app.get("/fhir/.well-known/smart-configuration")
def smart_configuration():
    LOG["discovery"].append(request.path)
    auth, tok = (("../auth/authorize", "../auth/token") if MODE == "relative"
                 else (BASE + "/auth/authorize", BASE + "/auth/token"))
    v2 = ["patient/*.rs", "patient/Observation.cu", "user/*.rs"]
    v1 = ["patient/*.read", "patient/*.write", "user/*.read"]
    return jsonify({
        "issuer": FHIR, "authorization_endpoint": auth, "token_endpoint": tok,
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "offline_access",
                             *(v1 if MODE == "v1" else v2)],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["plain"] if MODE == "no-s256" else ["S256"],
        "capabilities": ["launch-ehr", "launch-standalone", "client-confidential-asymmetric",
                         "context-ehr-patient", "permission-patient",
                         "permission-v1" if MODE == "v1" else "permission-v2"],
    })


@app.route("/auth/authorize", methods=["GET", "POST"])
def authorize():
    args = request.values.to_dict()
    LOG["authorize"].append(args)
    if args.get("aud", "").rstrip("/") != FHIR:
        return jsonify(error="invalid_request", error_description="aud must be the FHIR base"), 400
    return server.create_authorization_response(grant_user={"id": "practitioner-1"})


@app.post("/auth/token")
def issue_token():
    LOG["token"].append({k: v for k, v in request.form.items()} | {"_basic": bool(request.authorization)})
    return server.create_token_response()


@app.post("/_test/launch")
def new_launch():
    launch = secrets.token_urlsafe(12)
    LAUNCHES[launch] = request.get_json()
    return jsonify(launch=launch)


@app.post("/_test/token")
def system_token():
    """A token the EHR hands out itself (e.g. CDS Hooks fhirAuthorization for the service)."""
    token = secrets.token_urlsafe(24)
    TOKENS[token] = {"scope": "patient/*.rs", "context": request.get_json() or {}, "expires": time.time() + 300}
    return jsonify(access_token=token, token_type="Bearer", expires_in=300, scope="patient/*.rs")


@app.get("/_test/log")
def get_log():
    return jsonify(LOG)


@app.post("/_test/fail-writes")
def fail_writes():
    FAIL_WRITES["on"] = bool((request.get_json() or {}).get("on"))
    return jsonify(FAIL_WRITES)


@app.post("/_test/expire")
def expire_tokens():
    for rec in TOKENS.values():
        rec["expires"] = 0
    return jsonify(ok=True)


@app.get("/")
def index():
    return redirect(FHIR + "/metadata")


if __name__ == "__main__":
    app.run("127.0.0.1", PORT, threaded=True)
