"""painpa's own keys, one set for the whole deployment, kept in the database (RFC 7517 JWK and JWKS):

* the signing key of SMART confidential-asymmetric client authentication (SMART App Launch 2.2
  ``client-confidential-asymmetric``, RFC 7523 ``private_key_jwt``; standards.md §5.2): ES384, one of
  the two algorithms SMART servers SHALL accept; only public halves are served, at
  ``/.well-known/jwks.json``;
* the seal key of the EHR's access and refresh tokens at rest (RFC 7516 JWE ``dir`` + A256GCM; SMART
  2.2 "App protection"): a copy of the database alone does not open the EHR.

Every instance with the same ``DATABASE_URL`` and ``PAINPA_SECRET_KEY`` reads the ``smart_keys`` table
(smart_app/tables.py), so each signs with the same kid, serves the same JWKS and reads the tokens any
other sealed. The private parts are stored as a JWE under a key derived from the secret key
(HKDF-SHA256, RFC 5869); an instance with another secret key cannot open them and says so
(:class:`KeysUnreadable`, never a 500). The first use creates the keys once: the row of generation 1
is unique, and the instance that loses the race reads the winner's.

Rotation (``painpa keys rotate``, smart_app/keys_cli.py) adds a new generation. The new signing key is
published at once but signs only after ``SIGNING_LEAD`` (the JWKS may be cached for 300 s), and the one
it replaces stays published ``OVERLAP`` longer; the new seal key seals at once, and every sealed
token names its key in the JWE ``kid`` header, so tokens sealed before stay readable for ``OVERLAP``
(sessions end after 12 h). ``--retire-old`` retires every older key now.

Key files of the previous release in ``PAINPA_HOME`` are imported on first use (the deployment keeps
its kid and its sessions) and then deleted: ``PAINPA_HOME`` holds no key any more.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cds_service.config import secret_key
from cds_service.store.base import Database
from smart_app.discovery import LaunchError
from smart_app.tables import SmartKey

log = logging.getLogger(__name__)

ALG = "ES384"
SIG, ENC = "sig", "enc"                 # RFC 7517 §4.2 "use"
_JWE = {"alg": "dir", "enc": "A256GCM"}
_JWE_ALGS = list(_JWE.values())
OVERLAP = timedelta(hours=24)           # a replaced key stays published (signing) or readable (seal)
SIGNING_LEAD = timedelta(minutes=10)    # > the JWKS's max-age (300 s) + REFRESH_S: EHRs see a kid before it signs
REFRESH_S = 5.0                         # how stale this process's view of the table may be
LEGACY_FILES = {SIG: "smart_client_key.json", ENC: "smart_seal_key"}
SESSION_UNREADABLE = "The app session's key was retired; relaunch the app from the EHR."
_unopened: set[str] = set()


class KeysUnreadable(LaunchError):
    """The keys in the database do not open with this instance's ``PAINPA_SECRET_KEY``."""

    def __init__(self) -> None:
        super().__init__("painpa cannot open its SMART keys: this instance's PAINPA_SECRET_KEY is not the one "
                         "they were stored with. Give every instance the same PAINPA_SECRET_KEY.", 503)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)   # naive UTC, as every DateTime column of the store


def retired(row: SmartKey, now: datetime) -> bool:
    return row.retired_at is not None and row.retired_at <= now


def read(db: Database) -> tuple[SmartKey, ...]:
    """Every row, detached (read-only from here on)."""
    with db.session() as s:
        return tuple(s.scalars(select(SmartKey).order_by(SmartKey.created, SmartKey.kid)))


def current(rows: tuple[SmartKey, ...], use: str, now: datetime) -> SmartKey | None:
    """The newest generation whose time has come: the one that signs (or seals) now."""
    ready = [r for r in rows if r.key_use == use and r.generation is not None and r.not_before <= now
             and not retired(r, now)]
    return max(ready, key=lambda r: r.generation or 0, default=None)


@lru_cache(maxsize=8)
def wrapping_key(secret: str, purpose: bytes = b"painpa smart_keys private parts v1") -> OctKey:
    """A key derived from the secret key for one ``purpose`` (HKDF's info): what one purpose seals,
    another cannot open."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"painpa", info=purpose).derive(secret.encode())
    return OctKey.import_key(raw)


def bind(wrap: OctKey, kid: str, data: bytes, cty: str | None = None) -> str:
    """``data`` encrypted under ``wrap`` (JWE ``dir`` + A256GCM) with ``kid`` in the authenticated
    header: a ciphertext copied into another row (another kid) will not open as that row's."""
    header = {**_JWE, "kid": kid, **({"cty": cty} if cty else {})}
    return jwe.encrypt_compact(header, data, wrap, algorithms=_JWE_ALGS)


def unbind(wrap: OctKey, kid: str, compact: str) -> bytes | None:
    """What :func:`bind` sealed for ``kid``; None when it does not open under ``wrap`` (another
    secret key) or was sealed for another kid."""
    try:
        opened = jwe.decrypt_compact(compact, wrap, algorithms=_JWE_ALGS)
    except JoseError:
        return None
    return opened.plaintext if opened.headers().get("kid") == kid else None


def _wrap(wrap: OctKey, kid: str, key: ECKey | OctKey) -> str:
    return bind(wrap, kid, json.dumps(key.as_dict(private=True)).encode(), cty="jwk+json")


def _unwrap(wrap: OctKey, info: SmartKey) -> ECKey | OctKey:
    if info.private_jwe is None:
        raise LaunchError(SESSION_UNREADABLE, 401)   # retired and erased
    plaintext = unbind(wrap, info.kid, info.private_jwe)
    if plaintext is None:
        if info.kid not in _unopened:   # said once per process: every request would repeat it
            _unopened.add(info.kid)
            log.error("the smart_keys row %s does not open with this instance's PAINPA_SECRET_KEY", info.kid)
        raise KeysUnreadable()
    data = json.loads(plaintext)
    return ECKey.import_key(data) if info.key_use == SIG else OctKey.import_key(data)


def new_key(use: str, wrap: OctKey, *, generation: int | None, key: ECKey | OctKey | None = None,
            not_before: datetime | None = None, retired_at: datetime | None = None,
            origin: str = "generated") -> SmartKey:
    """A row for ``key`` (a new one when None), its private part wrapped under ``wrap``."""
    key = key or (ECKey.generate_key("P-384", private=True) if use == SIG else OctKey.generate_key(256))
    kid = key.kid or key.thumbprint()   # RFC 7638: the signing key's kid is what the previous release used
    public = None
    if use == SIG:
        public = {**key.as_dict(private=False), "kid": kid, "alg": ALG, "use": "sig", "key_ops": ["verify"]}
    now = utcnow()
    return SmartKey(kid=kid, key_use=use, generation=generation, public_jwk=public, private_jwe=_wrap(wrap, kid, key),
                    origin=origin, created=now, not_before=not_before or now, retired_at=retired_at)


def _insert(db: Database, row: SmartKey) -> bool:
    """Add ``row``; False when another process holds its kid or its (use, generation) already."""
    try:
        with db.session() as s:
            s.add(row)
    except IntegrityError:
        return False
    return True


def _legacy(home: Path, use: str) -> tuple[Path, ECKey | OctKey] | None:
    """A key file of the previous release, read as that release read it."""
    path = Path(home) / LEGACY_FILES[use]
    try:
        raw = path.read_bytes()
        if use == SIG:
            return path, ECKey.import_key(json.loads(raw))
        return path, OctKey.import_key(hashlib.sha256(raw.strip()).digest())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, JoseError) as exc:
        log.warning("%s could not be imported (%s); painpa uses the keys in the database", path, type(exc).__name__)
        return None


def _ensure(db: Database, home: Path, wrap: OctKey, rows: tuple[SmartKey, ...]) -> tuple[SmartKey, ...]:
    """Import this instance's old key files, and create the first key of each use if there is none."""
    now = utcnow()
    imported: list[Path] = []
    for use in (SIG, ENC):
        if (legacy := _legacy(home, use)) is not None:
            path, key = legacy
            if not any(r.kid == (key.kid or key.thumbprint()) for r in rows):
                first = not any(r.key_use == use and r.generation is not None for r in rows)
                if not (first and _insert(db, new_key(use, wrap, key=key, generation=1, origin="imported"))):
                    # Another instance's keys are current (each host had its own files): this one's stay
                    # published and readable for the overlap, so its sessions survive the upgrade.
                    _insert(db, new_key(use, wrap, key=key, generation=None, retired_at=now + OVERLAP, origin="imported"))
                rows = read(db)
            if any(r.kid == (key.kid or key.thumbprint()) for r in rows):
                imported.append(path)
        if not any(r.key_use == use and r.generation is not None for r in rows):
            _insert(db, new_key(use, wrap, generation=1))   # a process that loses the race reads the winner's
            rows = read(db)
    for path in imported:
        try:
            path.unlink()   # the database holds it now; a plaintext copy would only be a liability
            log.info("imported %s into the database and removed the file", path.name)
        except OSError as exc:
            log.warning("imported %s into the database but could not remove it (%s)", path, type(exc).__name__)
    return rows


@dataclass
class _Ring:
    """This process's view of the table, and the keys it has opened (a kid's material never changes)."""

    rows: tuple[SmartKey, ...]
    wrap: OctKey
    opened: dict[str, ECKey | OctKey]
    loaded: float = field(default_factory=time.monotonic)

    def live(self, use: str, now: datetime) -> list[SmartKey]:
        """Keys not retired: the current first, then by generation, newest first; imported ones last."""
        cur = current(self.rows, use, now)
        rows = [r for r in self.rows if r.key_use == use and not retired(r, now)]
        return sorted(rows, key=lambda r: (r is not cur, -(r.generation or 0), r.kid))

    def current(self, use: str) -> SmartKey:
        info = current(self.rows, use, utcnow())
        if info is None:  # only if rows were deleted by hand after this process read the table
            raise LaunchError("painpa's keys changed while in use; try again in a few seconds.", 503)
        return info

    def open(self, info: SmartKey) -> ECKey | OctKey:
        if info.kid not in self.opened:
            self.opened[info.kid] = _unwrap(self.wrap, info)
        return self.opened[info.kid]

    def check(self) -> bool:
        """Open the current keys (KeysUnreadable under another secret key); True when both uses have one."""
        found = [current(self.rows, use, utcnow()) for use in (SIG, ENC)]
        for info in found:
            if info is not None:
                self.open(info)
        return all(found)


_lock = threading.Lock()
_rings: dict[tuple[str, str], _Ring] = {}
_homes_seen: set[tuple[str, Path]] = set()


def keyring(db: Database, settings, *, refresh: bool = False) -> _Ring:
    wrap = wrapping_key(secret_key(settings))
    cache_key, home = (db.url, wrap.thumbprint()), Path(settings.home)
    with _lock:
        ring = _rings.get(cache_key)
        fresh = ring is not None and time.monotonic() - ring.loaded < REFRESH_S
        if fresh and not refresh and (db.url, home) in _homes_seen:
            return ring
        ring = _Ring(read(db), wrap, ring.opened if ring else {})
        # Checked before anything is written: an instance with another secret key adds no row.
        complete = ring.check()
        if not complete or (db.url, home) not in _homes_seen:
            ring = _Ring(_ensure(db, home, wrap, ring.rows), wrap, ring.opened)
            ring.check()
            _homes_seen.add((db.url, home))
        _rings[cache_key] = ring
        return ring


def forget() -> None:
    """Drop this process's view (after a rotation made here, so the next use reads the table)."""
    with _lock:
        _rings.clear()


def public_jwks(db: Database, settings) -> dict:
    """The JWKS (RFC 7517 §5): every signing key not retired, public members only."""
    ring = keyring(db, settings)
    return {"keys": [dict(r.public_jwk) for r in ring.live(SIG, utcnow()) if r.public_jwk]}


def client_assertion(db: Database, settings, client_id: str, token_endpoint: str, lifetime_s: int = 240) -> str:
    """A one-time client assertion JWT (SMART 2.2 "Authenticating with private_key_jwt"; RFC 7523 §3):
    iss = sub = client_id, aud = the token endpoint, exp ≤ 5 minutes, unique jti."""
    ring = keyring(db, settings)
    info = ring.current(SIG)
    now = int(time.time())
    header = {"alg": ALG, "typ": "JWT", "kid": info.kid}
    claims = {"iss": client_id, "sub": client_id, "aud": token_endpoint, "iat": now, "exp": now + lifetime_s,
              "jti": secrets.token_urlsafe(24)}
    return jwt.encode(header, claims, ring.open(info), algorithms=[ALG])


def seal(db: Database, settings, value: str | None) -> str | None:
    """AES-256-GCM (JWE ``dir``) under the current seal key, named by the ``kid`` header."""
    if value is None:
        return None
    ring = keyring(db, settings)
    info = ring.current(ENC)
    return bind(ring.open(info), info.kid, value.encode())


def _header(value: str) -> dict:
    try:
        segment = value.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise LaunchError(SESSION_UNREADABLE, 401) from None
    if not isinstance(header, dict):
        raise LaunchError(SESSION_UNREADABLE, 401)
    return header


def unseal(db: Database, settings, value: str | None) -> str | None:
    if value is None:
        return None
    kid = _header(value).get("kid")
    ring = keyring(db, settings)
    if kid is not None and not any(r.kid == kid for r in ring.rows):
        ring = keyring(db, settings, refresh=True)   # sealed by another instance with a key this one has not read yet
    live = ring.live(ENC, utcnow())
    # No kid: sealed by the previous release, whose key was imported from a PAINPA_HOME.
    candidates = [r for r in live if r.kid == kid] if kid is not None else [r for r in live if r.origin == "imported"]
    for info in candidates:
        try:
            return jwe.decrypt_compact(value, ring.open(info), algorithms=_JWE_ALGS).plaintext.decode()
        except JoseError:
            continue
    raise LaunchError(SESSION_UNREADABLE, 401)


def unreadable(db: Database, settings) -> bool:
    """True when current keys exist that this instance's secret key cannot open (nothing is written)."""
    ring = _Ring(read(db), wrapping_key(secret_key(settings)), {})
    try:
        ring.check()
    except KeysUnreadable:
        return True
    return False
