"""``painpa keys rotate | list``: painpa's own keys in the database (smart_app/keys.py): the SMART
client signing key (SMART App Launch 2.2 ``client-confidential-asymmetric``, RFC 7523; published as an
RFC 7517 JWKS) and the seal key of the EHR tokens at rest.

``rotate`` makes a new signing key and a new seal key. The signing key is published at once and signs
after ``--publish-lead`` seconds (default 600: EHRs may cache painpa's JWKS for 300 s); the keys it
replaces stay published, or readable, for 24 h after that (``keys.OVERLAP``), then retire. With
``--retire-old`` the new keys are current at once and every older key retires now: the procedure for
a key that may have leaked (open app sessions must be relaunched). ``list`` shows kids, dates and
states, never key material.

The parser is built in cds_service/cli.py; these run the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cds_service.config import ConfigError, Settings
from cds_service.store.base import Database, init_db
from smart_app import keys
from smart_app.tables import SmartKey

USES = {keys.SIG: "signing", keys.ENC: "seal"}


def rotate_keys(db: Database, settings: Settings, *, retire_old: bool = False,
                signing_lead: timedelta = keys.SIGNING_LEAD) -> None:
    """Add a generation of both keys; raises IntegrityError if a concurrent rotation won."""
    ring = keys.keyring(db, settings, refresh=True)   # the first keys exist, and this secret key opens them
    now = keys.utcnow()
    with db.session() as s:
        rows = list(s.scalars(select(SmartKey)))
        for use in (keys.SIG, keys.ENC):
            starts = now + (signing_lead if use == keys.SIG and not retire_old else timedelta(0))
            mine = [r for r in rows if r.key_use == use]
            for r in mine:
                if retire_old and not keys.retired(r, now):
                    r.retired_at = now
                elif r.retired_at is None:
                    # Published (or readable) until the new key has signed (or sealed) for the overlap.
                    r.retired_at = starts + keys.OVERLAP
            generation = max((r.generation for r in mine if r.generation is not None), default=0) + 1
            s.add(keys.new_key(use, ring.wrap, generation=generation, not_before=starts))
        for r in rows:
            if keys.retired(r, now):
                r.private_jwe = None   # a retired key is never used again: erase it
    keys.forget()


def describe(rows: tuple[SmartKey, ...], now: datetime) -> list[dict]:
    """What ``list`` shows: no key material, only what an operator needs to follow a rotation."""
    out = []
    for r in rows:
        cur = keys.current(rows, r.key_use, now)
        if keys.retired(r, now):
            state, until = "retired", None
        elif cur is not None and r.kid == cur.kid:
            state, until = "current", r.retired_at
        else:
            state, until = ("published" if r.key_use == keys.SIG else "readable"), r.retired_at
        out.append({
            "kid": r.kid, "use": USES.get(r.key_use, r.key_use), "state": state, "generation": r.generation,
            "origin": r.origin, "created": _iso(r.created),
            "current_from": _iso(r.not_before) if r.not_before > now and not keys.retired(r, now) else None,
            "until": _iso(until) if until else None, "retired": _iso(r.retired_at) if state == "retired" else None,
        })
    return out


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _instance() -> tuple[Database, Settings]:
    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    return init_db(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms), settings


def rotate(args: argparse.Namespace) -> int:
    if args.publish_lead < 0:
        print("painpa keys rotate: --publish-lead is a number of seconds, 0 or more", file=sys.stderr)
        return 2
    try:
        db, settings = _instance()
        rotate_keys(db, settings, retire_old=args.retire_old, signing_lead=timedelta(seconds=args.publish_lead))
    except ConfigError as exc:
        print(f"painpa keys rotate: {exc}", file=sys.stderr)
        return 2
    except keys.KeysUnreadable as exc:
        print(f"painpa keys rotate: {exc.message}", file=sys.stderr)
        return 1
    except IntegrityError:
        print("painpa keys rotate: another rotation ran at the same time; see `painpa keys list`", file=sys.stderr)
        return 1
    print("new keys made; " + ("older keys retired now: open app sessions must be relaunched" if args.retire_old
                               else "older keys stay published (signing) and readable (seal) for 24 h"))
    return list_(argparse.Namespace(json=False))


def list_(args: argparse.Namespace) -> int:
    try:
        db, settings = _instance()
    except ConfigError as exc:
        print(f"painpa keys list: {exc}", file=sys.stderr)
        return 2
    rows = keys.read(db)
    listed = describe(rows, keys.utcnow())
    if args.json:
        print(json.dumps(listed, indent=2))
    elif not listed:
        print("no keys yet: the first use (a launch, the JWKS) creates them, or run `painpa keys rotate`")
    for k in [] if args.json else listed:
        notes = [f"current from {k['current_from']}" if k["current_from"] else "",
                 f"until {k['until']}" if k["until"] else "", f"retired {k['retired']}" if k["retired"] else "",
                 "imported from PAINPA_HOME" if k["origin"] == "imported" else ""]
        print(f"{k['kid']}\t{k['use']}\t{k['state']}\tcreated {k['created']}\t{' '.join(n for n in notes if n)}".rstrip())
    if rows and keys.unreadable(db, settings):
        print(f"painpa keys list: {keys.KeysUnreadable().message}", file=sys.stderr)
        return 1
    return 0
