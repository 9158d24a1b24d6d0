"""Dashboard pages (thin views over :mod:`cds_service.denials`): login (throttled against password
guessing, :mod:`cds_service.admin.throttle`), overview, denial reasons by payer and plan over time
(CMS-0057-F, domain.md §3), the review list of unmapped reasons, gold-card readiness (WISeR
exemption, §0), payer scorecards (CMS-0057-F public metrics), imports and CSV exports. Every page
but the login needs a session; every POST carries the session's CSRF token."""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select

from cds_service import state
from cds_service.admin import auth, svg, throttle
from cds_service.admin.exports import csv_response
from cds_service.clients import list_clients
from cds_service.clock import today_utc
from cds_service.denials import goldcard, imports, scorecard, stats
from cds_service.denials.rules import default_data
from cds_service.denials.tables import Decision, DenialReason

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")


@bp.app_context_processor
def _inject():
    return {"admin_csrf": auth.csrf_token if request.blueprint == "admin" else None}


@bp.after_request
def _headers(resp):
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'")
    return resp


def _today() -> date:
    return today_utc()


def _titles() -> dict[str, str]:
    """Requirement id → title from the loaded policy data (ids shown where the data has none)."""
    policies = state.current().policies
    out = {"pa.decision": "Prior authorization on file", "(unmapped)": "Not mapped (review)"}
    for versions in policies.docs.values():
        for doc in versions:
            for req in doc.data.get("requirements", ()) if doc.type == "family" else ():
                out.setdefault(req["id"], req["title"])
    return out


def _month_range(first: str, last: str) -> list[str]:
    """Every "YYYY-MM" from first to last, so a month without denials shows as a gap, not nothing."""
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        return min(hi, max(lo, int(request.args.get(name, default))))
    except ValueError:
        return default


def _login_page(error: str | None, status: int, headers: dict | None = None):
    """The sign-in form with a fresh login-CSRF token bound to the browser's nonce cookie."""
    nonce = auth.login_nonce()
    resp = make_response(render_template("admin/login.html", error=error, login_csrf=auth.login_token(nonce)),
                         status, headers or {})
    cookie = auth.login_cookie()
    resp.set_cookie(cookie.pop("key"), nonce, **cookie)
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST" and not auth.login_csrf_ok():   # before the throttle: it costs nothing
        return _login_page("The sign-in form expired or did not come from this dashboard; try again.", 400)
    if request.method == "POST":
        app = state.current()
        db, settings, now = app.db, app.settings, app.clock()
        username = request.form.get("username", "")
        address = throttle.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                          settings.login_proxy_hops)
        gate = throttle.attempt(db, settings, username, address, salt=current_app.secret_key, now=now)
        if not gate.allowed:  # before the password check: a throttled guess costs no scrypt time
            return _login_page(throttle.wait_message(gate.retry_after_s, now), 429,
                               {"Retry-After": str(gate.retry_after_s)})
        # An over-long name cannot exist (auth.USERNAME_RE): it just fails, without the hash check.
        if not throttle.too_long(username) and auth.verify(db, username, request.form.get("password", "")):
            throttle.succeeded(db, gate)
            auth.log_in(username)
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") and "//" not in target else url_for("admin.index"))
        throttle.failed(gate)
        error = "Unknown user or wrong password."
    return _login_page(error, 401 if error else 200)


@bp.post("/logout")
@auth.login_required
def logout():
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@auth.login_required
def index():
    db = state.current().db
    with db.session() as s:
        counts = {
            "decisions": s.scalar(select(func.count(Decision.id))) or 0,
            "denied": s.scalar(select(func.count(Decision.id)).where(Decision.outcome.in_(("denied", "partial")))) or 0,
            "unmapped": s.scalar(select(func.count(DenialReason.id)).where(DenialReason.requirement.is_(None))) or 0,
        }
    data, today = default_data(), _today()
    ready = goldcard.readiness(goldcard.load_pa_decisions(db, today - timedelta(days=data.goldcard.window_days)),
                               data.goldcard, today=today)
    top = stats.top_requirements(stats.requirement_months(db, today - timedelta(days=365), today), limit=3)
    titles = _titles()
    chart = svg.hbar([(f"{r['payer']} {r['plan']}".strip() + f": {titles.get(t['requirement'], t['requirement'])}",
                       t["denials"]) for r in top[:4] for t in r["top"][:2]], title="Top failing requirements, 12 months")
    return render_template("admin/index.html", counts=counts, ready=ready, chart=chart, cfg=data.goldcard)


@bp.get("/denials")
@auth.login_required
def denials():
    months, today = _int_arg("months", 12, 1, 60), _today()
    rows = stats.requirement_months(state.current().db, today - timedelta(days=31 * months), today)
    titles = _titles()
    if request.args.get("format") == "csv":
        return csv_response("painpa-denials-by-requirement.csv", ["payer", "plan", "month", "requirement", "title",
                                                                  "denials"],
                            [[r["payer"], r["plan"], r["month"], r["requirement"], titles.get(r["requirement"], ""),
                              r["denials"]] for r in sorted(rows, key=lambda r: (r["payer"], r["plan"], r["month"]))])
    top = stats.top_requirements(rows)
    charts = []
    for group in top[:8]:
        mine = [r for r in rows if (r["payer"], r["plan"]) == (group["payer"], group["plan"])]
        month_keys = _month_range(min(r["month"] for r in mine), max(r["month"] for r in mine))
        series = {titles.get(t["requirement"], t["requirement"]): [
            sum(r["denials"] for r in mine if r["month"] == m and r["requirement"] == t["requirement"])
            for m in month_keys] for t in group["top"]}
        label = f"{group['payer']} {group['plan']}".strip()
        charts.append((label, group, svg.stacked_months(month_keys, series, title=f"Denials by requirement: {label}")))
    return render_template("admin/denials.html", charts=charts, titles=titles, months=months)


@bp.get("/denials/unmapped")
@auth.login_required
def unmapped():
    rows = stats.unmapped_reasons(state.current().db)
    if request.args.get("format") == "csv":
        return csv_response("painpa-unmapped-reasons.csv", ["payer", "code", "reason", "carc", "rarc", "count", "last"],
                            [[r["payer"], r["code"], r["text"], r["carc"], r["rarc"], r["count"], r["last"]]
                             for r in rows])
    return render_template("admin/unmapped.html", rows=rows)


@bp.get("/goldcard")
@auth.login_required
def gold_card():
    cfg, today = default_data().goldcard, _today()
    threshold = _int_arg("threshold", round(cfg.threshold * 100), 1, 100) / 100
    window = _int_arg("window", cfg.window_days, 7, 3650)
    rows = goldcard.readiness(goldcard.load_pa_decisions(state.current().db, today - timedelta(days=window)), cfg,
                              today=today, threshold=threshold, window_days=window)
    if request.args.get("format") == "csv":
        return csv_response("painpa-gold-card-readiness.csv",
                            ["clinician", "program", "requests", "affirmed", "rate_pct", "status", "needed",
                             "threshold_pct", "window_days", "threshold_source"],
                            [[r.clinician_label, r.program, r.requests, r.affirmed,
                              "" if r.rate is None else round(100 * r.rate, 1), r.status, r.needed,
                              round(100 * threshold), window, "placeholder: CMS has not published the WISeR threshold"]
                             for r in rows])
    chart = svg.hbar([(f"{r.clinician_label} · {r.program}", round(100 * (r.rate or 0), 1)) for r in rows],
                     title="Affirmation rate by clinician and program", unit="%", max_value=100,
                     threshold=100 * threshold,
                     muted=frozenset(i for i, r in enumerate(rows) if r.status == "too-few-requests"))
    return render_template("admin/goldcard.html", rows=rows, chart=chart, cfg=cfg, threshold=threshold, window=window)


@bp.get("/scorecard")
@auth.login_required
def payer_scorecard():
    rows = scorecard.scorecard(state.current().db)
    if request.args.get("format") == "csv":
        header = ["payer", "plan", "year", "practice_requests"]
        for name, _, _ in scorecard.FIELDS:
            header += [f"published_{name}", f"practice_{name}", f"delta_{name}"]
        out = []
        for r in rows:
            line, deltas = [r.payer, r.plan, r.year, r.own.requests], r.deltas()
            for name, _, _ in scorecard.FIELDS:
                line += [r.published.get(name), getattr(r.own, name), deltas[name]]
            out.append(line)
        return csv_response("painpa-payer-scorecard.csv", header, out)
    chart = svg.paired_bars([(f"{r.payer} {r.plan} {r.year}".replace("  ", " "), r.published.get("pct_approved"),
                              r.own.pct_approved) for r in rows],
                            title="Approval rate: published vs this practice", labels=("published", "practice"))
    return render_template("admin/scorecard.html", rows=rows, chart=chart, fields=scorecard.FIELDS)


@bp.get("/queue")
@auth.login_required
def queue():
    """The coordinator queue's door in the dashboard: painpa keeps no chart, so the queue is read
    live from the EHR with the coordinator's own sign-in (a SMART standalone launch, smart_app.queue)."""
    ehrs = [(c.iss, base) for c in list_clients(state.current().db) if c.smart_client_id for base in c.fhir_bases]
    return render_template("admin/queue.html", ehrs=ehrs)


@bp.route("/import", methods=["GET", "POST"])
@auth.login_required
def import_data():
    app = state.current()
    settings, db = app.settings, app.db
    bases = imports.registered_bases(db)
    if request.method == "POST":
        kind = request.form.get("kind")
        try:
            if kind in ("denials", "metrics"):
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise imports.ImportFailed("choose a CSV file to upload")
                text = upload.read(imports.MAX_BYTES + 1)
                report = imports.import_csv(db, kind, text, salt=current_app.secret_key)
            elif kind == "pas":
                base = request.form.get("fhir_base", "")
                if base not in bases:
                    abort(400, description="Choose one of the registered FHIR servers.")
                report = imports.import_pas(db, base, salt=current_app.secret_key, settings=settings,
                                            policies=app.policies)
            else:
                abort(400, description="Unknown import kind.")
            flash(f"Imported: {report.added} added, {report.duplicates} already stored, "
                  f"{report.unmapped} reasons to review, {len(report.errors)} problems.", "ok")
            for err in report.errors[:10]:
                flash(err, "error")
        except imports.ImportFailed as exc:
            flash(str(exc), "error")
        return redirect(url_for("admin.import_data"), code=303)
    return render_template("admin/import.html", bases=bases)
