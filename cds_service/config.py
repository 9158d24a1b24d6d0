"""Typed configuration, validated once at start-up (fail fast with a message that says what to fix).

Environment variables are the interface contract of ARCHITECTURE.md: ``PAINPA_HOME``,
``DATABASE_URL``, ``PAINPA_BASE_URL``; the rest are optional tuning knobs prefixed ``PAINPA_``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def _float(env: dict[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to a value between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={raw!r} is out of range; set it to a value between {lo} and {hi}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"PAINPA_BASE_URL / --base-url {raw!r} must be an absolute http(s) URL such as https://painpa.example.org"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"PAINPA_BASE_URL {raw!r} must not carry a query or fragment")
    return raw.rstrip("/")


def _networks(raw: str) -> tuple[str, ...]:
    out = []
    for item in (i.strip() for i in raw.split(",") if i.strip()):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"PAINPA_EGRESS_ALLOW_NETWORKS item {item!r} is not a CIDR network such as 10.20.0.0/16") from None
    return tuple(out)


# RFC 6750 §2.1 b64token: what an ``Authorization: Bearer`` header can carry.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
METRICS_TOKEN_MIN_LENGTH = 24


def _metrics_token(raw: str) -> str:
    """``PAINPA_METRICS_TOKEN``: empty (unset), or a bearer token long enough not to be guessed. The
    message never repeats the value."""
    if not raw:
        return raw
    if len(raw) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(f"PAINPA_METRICS_TOKEN is {len(raw)} characters long, under the {METRICS_TOKEN_MIN_LENGTH} "
                          "required; generate one with  python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    if not _BEARER_TOKEN.fullmatch(raw):
        raise ConfigError("PAINPA_METRICS_TOKEN has characters a Bearer header cannot carry (RFC 6750 §2.1: letters, "
                          "digits and - . _ ~ + /, then = padding); generate one with  python -c \"import secrets; "
                          "print(secrets.token_urlsafe(32))\"")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the app factory needs. Build with :meth:`from_env`; tests use :func:`dataclasses.replace`."""

    home: Path
    database_url: str
    base_url: str
    # One overall deadline for gathering FHIR data in a hook call (CRD: answer well inside 5 s).
    fhir_deadline_s: float = 3.0
    fhir_connect_timeout_s: float = 1.0
    fhir_read_timeout_s: float = 2.5
    fhir_max_pages: int = 5
    # http:// and loopback fhirServer bases are allowed only when registered explicitly (sandbox, tests).
    allow_insecure_registered: bool = True
    discovery_requires_jwt: bool = False
    jwt_leeway_s: int = 60
    jti_ttl_s: int = 3600
    audit_retention_days: int = 2190
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = 5 * 1024 * 1024
    # Security layer (cds_service/security, docs/security.md): prefetch bound, per-client rate limit,
    # private networks a registered host name may resolve into, optional Redis for shared counters.
    max_prefetch_resources: int = 5000
    rate_limit_per_minute: int = 1200
    egress_allow_networks: tuple[str, ...] = ()
    redis_url: str = ""
    # How long a statement waits for SQLite's write lock before the call answers 503 (store/base.py).
    db_busy_timeout_ms: int = 5000
    # Admin login throttling (cds_service/admin/throttle.py; OWASP Authentication Cheat Sheet, NIST SP
    # 800-63B §5.2.2): failed sign-ins allowed per (user name, client address) pair, per address and
    # per user name from all addresses in one window, and how many reverse proxies in front append to
    # X-Forwarded-For (0: use the socket's address).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_max_failures_per_user: int = 100
    login_window_s: int = 900
    login_proxy_hops: int = 0
    secret_key: str = field(default="", repr=False)
    # Who may read /metrics (cds_service/metrics.py): with PAINPA_METRICS_TOKEN set (24 characters or
    # more, else start-up stops), only a request with ``Authorization: Bearer <token>``, from any
    # address; unset, only a loopback client (127.0.0.0/8, ::1) by the socket's address, never by
    # X-Forwarded-For, and not a request a proxy relayed (it carries a forwarding header). Set it
    # whenever Prometheus scrapes from another host or container, or a proxy on the same host
    # forwards without a forwarding header (every caller would then look like loopback).
    metrics_token: str = field(default="", repr=False)
    sandbox: bool = False

    @property
    def secure_cookies(self) -> bool:
        """Every cookie painpa sets carries Secure when it is served over https (docs/security.md §2.8)."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(overrides.pop("home", None) or env.get("PAINPA_HOME") or "instance").resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{home / 'painpa.db'}"
        if "://" not in database_url:
            raise ConfigError(f"DATABASE_URL={database_url!r} is not an SQLAlchemy URL (e.g. postgresql+psycopg://...)")
        base_url = _base_url(overrides.pop("base_url", None) or env.get("PAINPA_BASE_URL") or "http://127.0.0.1:8080")
        origins = tuple(o.strip().rstrip("/") for o in env.get("PAINPA_CORS_ORIGINS", "").split(",") if o.strip())
        if "*" in origins:
            raise ConfigError("PAINPA_CORS_ORIGINS must list origins explicitly; '*' is refused")
        settings = cls(
            home=home,
            database_url=database_url,
            base_url=base_url,
            fhir_deadline_s=_float(env, "PAINPA_FHIR_DEADLINE", 3.0, 0.2, 30.0),
            discovery_requires_jwt=_bool(env, "PAINPA_DISCOVERY_REQUIRES_JWT", False),
            audit_retention_days=int(_float(env, "PAINPA_AUDIT_RETENTION_DAYS", 2190, 1, 36500)),
            cors_origins=origins,
            secret_key=check_secret_key(env.get("PAINPA_SECRET_KEY", "")),
            rate_limit_per_minute=int(_float(env, "PAINPA_RATE_LIMIT", 1200, 0, 1_000_000)),
            max_prefetch_resources=int(_float(env, "PAINPA_MAX_PREFETCH_RESOURCES", 5000, 1, 1_000_000)),
            egress_allow_networks=_networks(env.get("PAINPA_EGRESS_ALLOW_NETWORKS", "")),
            redis_url=env.get("PAINPA_REDIS_URL", ""),
            metrics_token=_metrics_token(env.get("PAINPA_METRICS_TOKEN", "")),
            # NIST SP 800-63B §5.2.2 caps consecutive failures per account at 100.
            login_max_failures=int(_float(env, "PAINPA_LOGIN_MAX_FAILURES", 5, 1, 100)),
            login_max_failures_per_address=int(_float(env, "PAINPA_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 10_000)),
            login_max_failures_per_user=int(_float(env, "PAINPA_LOGIN_MAX_FAILURES_PER_USER", 100, 2, 100)),
            login_window_s=int(_float(env, "PAINPA_LOGIN_WINDOW_S", 900, 60, 86_400)),
            login_proxy_hops=int(_float(env, "PAINPA_LOGIN_PROXY_HOPS", 0, 0, 5)),
            db_busy_timeout_ms=int(_float(env, "PAINPA_DB_BUSY_TIMEOUT_MS", 5000, 10, 600_000)),
        )
        if settings.login_max_failures_per_user <= settings.login_max_failures:
            # One address may fail a name that many times: at or under it, one address locks the name out.
            raise ConfigError(f"PAINPA_LOGIN_MAX_FAILURES_PER_USER={settings.login_max_failures_per_user} must be "
                              f"more than PAINPA_LOGIN_MAX_FAILURES={settings.login_max_failures} (default 100)")
        return replace(settings, **overrides) if overrides else settings


# The rule for a PAINPA_SECRET_KEY that is set (docs/deploy.md): at least this many characters, at
# least SECRET_KEY_MIN_DISTINCT different ones, and none of these words once lower-cased with
# everything but letters and digits dropped. The words catch a copied example value ("CHANGE_ME",
# "replace-me-with-...") that is long enough to pass the length rule; a random key never holds one.
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 8
SECRET_KEY_PLACEHOLDERS = ("changeme", "changethis", "replaceme", "placeholder", "example", "password",
                           "secretkey", "yoursecret")
_GENERATE_ONE = ('generate one with  python -c "import secrets; print(secrets.token_urlsafe(48))"  and set '
                 "the same value on every instance (on a single host, unset PAINPA_SECRET_KEY instead: "
                 "painpa then keeps a random key in PAINPA_HOME/secret_key)")


def check_secret_key(value: str) -> str:
    """``value`` if it may sign sessions and salt patient hashes, else :class:`ConfigError`. Empty
    means unset (:func:`secret_key` makes one). The message never repeats the value."""
    if not value:
        return value
    letters = "".join(c for c in value.lower() if c.isalnum())
    if len(value) < SECRET_KEY_MIN_LENGTH:
        problem = f"is {len(value)} characters long, under the {SECRET_KEY_MIN_LENGTH} required"
    elif marker := next((word for word in SECRET_KEY_PLACEHOLDERS if word in letters), None):
        problem = f"is a placeholder (it contains {marker!r})"
    elif len(set(value)) < SECRET_KEY_MIN_DISTINCT:
        problem = f"uses only {len(set(value))} different characters"
    else:
        return value
    # A session signed with a guessable key can be forged, and the audit log's patient hashes reversed.
    raise ConfigError(f"PAINPA_SECRET_KEY {problem}: {_GENERATE_ONE}")


def secret_key(settings: Settings) -> str:
    """The key that signs sessions and salts patient hashes: ``PAINPA_SECRET_KEY``, else a random
    key made once and kept in ``PAINPA_HOME/secret_key`` (mode 0600)."""
    if settings.secret_key:
        # Checked here too: Settings built without from_env (dataclasses.replace) reach the app this way.
        return check_secret_key(settings.secret_key)
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
