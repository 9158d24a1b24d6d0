"""SMART App Launch 2.2 endpoints: ``/fhir/.well-known/smart-configuration`` (§5.1 Conformance; the
same document at ``/payer/.well-known/smart-configuration``, the payer's PAS API being protected by
this server too), ``/auth/authorize`` (GET and POST, §"Obtain authorization code"; patient picker for
standalone launch), ``/auth/token`` (§"Obtain access token", refresh, backend services),
``/auth/register`` (RFC 7591), ``/auth/jwks.json``, and ``/auth/launch/<client id>?patient=…``, the
EHR launch of a registered outside app (§"Launch App: EHR Launch"), standing in for an EHR's app menu.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, g, jsonify, redirect, render_template, request

from cds_service import state
from sandbox import state as sandbox_state
from sandbox.auth import launch
from sandbox.auth.apps import get_app
from sandbox.fhir import store
from sandbox.keys import public_jwks
from sandbox.roster import SANDBOX_USER, patient_choices

bp = Blueprint("sandbox_auth", __name__, template_folder="../templates")


@bp.get("/fhir/.well-known/smart-configuration")
@bp.get("/payer/.well-known/smart-configuration")
def smart_configuration():
    base = state.current().settings.base_url
    body = {
        "issuer": f"{base}/auth",
        "jwks_uri": f"{base}/auth/jwks.json",
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "registration_endpoint": f"{base}/auth/register",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384", "ES256", "RS256"],
        "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
                             "patient/*.rs", "user/*.rs", "patient/*.cruds", "user/*.cruds", "system/*.rs",
                             "system/Claim.cr", "system/ClaimResponse.rs", "system/Bundle.r",
                             "system/Subscription.crd"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-ehr", "launch-standalone", "authorize-post", "client-public",
                         "client-confidential-symmetric", "client-confidential-asymmetric", "context-banner",
                         "context-style", "context-ehr-patient", "context-ehr-encounter",
                         "context-standalone-patient", "permission-offline", "permission-online",
                         "permission-patient", "permission-user", "permission-v1", "permission-v2",
                         "sso-openid-connect"],
    }
    resp = jsonify(body)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # discovery is public (SMART 2.2 §5.5 CORS)
    return resp


@bp.get("/auth/jwks.json")
def jwks():
    return jsonify(public_jwks(sandbox_state.current().key))


@bp.route("/auth/authorize", methods=["GET", "POST"])
def authorize():
    params = request.values.to_dict()
    server = sandbox_state.current().auth_server
    try:
        grant = server.get_consent_grant(end_user=SANDBOX_USER)
    except OAuth2Error as err:
        if getattr(err, "redirect_uri", None):  # the redirect URI was verified: report there (RFC 6749 §4.1.2.1)
            return server.handle_error_response(None, err)
        # bad client or redirect URI: never redirect to an unverified URI
        return render_template("sandbox/auth_error.html", error=err.error, description=err.description), 400
    redirect_uri = grant.request.payload.redirect_uri
    fhir_base = f"{state.current().settings.base_url}/fhir"
    if params.get("aud", "").rstrip("/") != fhir_base:
        return _error_redirect(redirect_uri, params, "invalid_request", f"aud must be the FHIR base {fhir_base}")
    scopes = (params.get("scope") or "").split()
    if params.get("launch"):
        context = launch.resolve(state.current().db, params["launch"])
        if context is None:
            return render_template("sandbox/auth_error.html", error="invalid_request",
                                   description="This launch has expired or is unknown. Launch the app again "
                                               "from the EHR."), 400
    elif "launch/patient" in scopes:
        if not params.get("patient"):
            return render_template("sandbox/picker.html", params=params, client=grant.client.name,
                                   patients=patient_choices(state.current().db))
        context = {"patient": params["patient"], "need_patient_banner": True}
    else:
        context = {}
    g.sbx_launch_context = context
    return server.create_authorization_response(grant_user=SANDBOX_USER, grant=grant)


@bp.get("/auth/launch/<client_id>")
def ehr_launch(client_id: str):
    """Open a registered app the way the EHR does: ``{launch URL}?iss={FHIR base}&launch={id}``, the
    launch id standing for the patient (and encounter) given here."""
    db = state.current().db
    app = get_app(db, client_id)
    if app is None or not app.launch_uri:
        return render_template("sandbox/auth_error.html", error="invalid_request",
                               description=f"No app {client_id!r} with a launch URL is registered "
                                           "(painpa sandbox apps add … --launch-uri URL)."), 404
    pid = request.args.get("patient", "")
    with db.session() as s:
        known = bool(pid) and len(pid) <= 64 and store.exists(s, "Patient", pid)
    if not known:
        return render_template("sandbox/auth_error.html", error="invalid_request",
                               description="Name a patient of the sandbox: ?patient=<id> (see /ehr/)."), 404
    context = {"patient": pid, "encounter": request.args.get("encounter"), "need_patient_banner": True}
    launch_id = launch.create(db, context)
    sep = "&" if "?" in app.launch_uri else "?"
    fhir_base = f"{state.current().settings.base_url}/fhir"
    return redirect(f"{app.launch_uri}{sep}{urlencode({'iss': fhir_base, 'launch': launch_id})}")


@bp.post("/auth/token")
def token():
    return sandbox_state.current().auth_server.create_token_response()


@bp.post("/auth/register")
def register():
    return sandbox_state.current().auth_server.create_endpoint_response("client_registration")


def _error_redirect(redirect_uri: str, params: dict, error: str, description: str):
    query = {"error": error, "error_description": description}
    if params.get("state"):
        query["state"] = params["state"]
    sep = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{sep}{urlencode(query)}")
