"""``painpa clients add | list | remove | set-smart-secret | set-windows`` (ARCHITECTURE.md interface contract; CDS
Hooks 2.0 §Security: the operator's allowlist of clients, their keys and FHIR bases; SMART App Launch
2.2 ``client-confidential-symmetric`` for the app's secret at an EHR that requires one)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from dataclasses import asdict
from urllib.parse import urlsplit

from cds_service.config import ConfigError, Settings

# Each action imports the client registry (SQLAlchemy, joserfc) when it runs, so that building the
# ``painpa`` parser (``painpa --help``, a usage error) loads none of it and answers at once.


def register(sub: argparse._SubParsersAction) -> None:
    clients = sub.add_parser("clients", help="register the EHRs allowed to call the service")
    csub = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    add_cmd = csub.add_parser("add", help="register a client (--replace to change a registered one)")
    add_cmd.add_argument("--iss", required=True, help="the iss of the client's JWTs")
    add_cmd.add_argument("--replace", action="store_true",
                         help="replace the settings of an iss already registered (prints what changed)")
    add_cmd.add_argument("--allow-http-jwks", action="store_true",
                         help="accept a plain-http --jwks-url on a host other than this machine (testing only: "
                              "anyone on the path could swap the keys)")
    keys = add_cmd.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-url", help="URL of the client's JWK Set (also the only jku accepted)")
    keys.add_argument("--jwks-file", help="file holding the client's public JWK Set (stored now)")
    add_cmd.add_argument("--fhir-base", action="append", required=True, dest="fhir_bases", metavar="URL",
                     help="FHIR base the client may send as fhirServer (repeatable)")
    add_cmd.add_argument("--tenant")
    add_cmd.add_argument("--smart-client-id", help="the SMART app's client id at this EHR")
    add_cmd.add_argument("--default-state", help="two-letter state used when an order names no location")
    add_cmd.add_argument("--default-pos", help="CMS place-of-service code used when an order names none")
    add_cmd.add_argument("--crd-version", help="CRD version answered when a request names none "
                                               "(2.0.1, 2.1 or 2.2; default 2.0.1)")
    add_cmd.set_defaults(func=add)
    lst = csub.add_parser("list", help="list registered clients")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_)
    rm = csub.add_parser("remove", help="remove a client")
    rm.add_argument("iss")
    rm.set_defaults(func=remove)
    secret = csub.add_parser("set-smart-secret", help="store the SMART app's client secret at an EHR (read from "
                                                      "standard input, never an argument), sealed in the database")
    secret.add_argument("--fhir-base", required=True, metavar="URL", help="the EHR's FHIR base (the launch iss)")
    secret.add_argument("--clear", action="store_true", help="remove the stored secret instead")
    secret.set_defaults(func=set_smart_secret)
    windows = csub.add_parser("set-windows", help="set this tenant's values for the windows that are painpa's own "
                                                  "choice, not a policy's (no KEY=DAYS: back to painpa's defaults)")
    windows.add_argument("--iss", required=True, help="the client's iss")
    windows.add_argument("windows", nargs="*", metavar="KEY=DAYS", help="e.g. esi.active-program.within_days=60")
    windows.set_defaults(func=set_windows)


def _db():
    from cds_service.store import init_db  # see the note on imports above

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        return init_db(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    except ConfigError as exc:  # a database schema that is not this release's, say: `painpa db upgrade`
        print(f"painpa clients: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(info) -> dict:
    """A client's settings as the operator gave them (the stored JWKS summarised, not printed)."""
    out = asdict(info)
    out["jwks"] = "stored JWK Set" if info.jwks else None
    out["fhir_bases"] = list(info.fhir_bases)
    defaults = out.pop("defaults")
    out["default_state"], out["default_pos"] = defaults["state"], defaults["place_of_service"]
    return out


def add(args: argparse.Namespace) -> int:
    # see the note on imports above
    from cds_service.clients import ClientError, add_client, get_client, load_jwks_file

    if args.jwks_url and urlsplit(args.jwks_url).scheme == "http" and not args.allow_http_jwks \
            and not _loopback(urlsplit(args.jwks_url).hostname):
        print(f"painpa clients add: --jwks-url {args.jwks_url} is plain http on another host: anyone on the path "
              "could replace the EHR's keys. Use its https URL, --jwks-file, or --allow-http-jwks for a test EHR.",
              file=sys.stderr)
        return 2
    try:
        jwks = load_jwks_file(args.jwks_file) if args.jwks_file else None
        db = _db()
        before = get_client(db, args.iss)
        if before is not None and not args.replace:
            print(f"painpa clients add: {args.iss} is already registered; run again with --replace to change its "
                  "settings (painpa clients list --json shows them)", file=sys.stderr)
            return 2
        info = add_client(
            db, iss=args.iss, fhir_bases=args.fhir_bases, jwks_url=args.jwks_url, jwks=jwks,
            tenant=args.tenant, smart_client_id=args.smart_client_id,
            default_state=args.default_state, default_pos=args.default_pos, crd_version=args.crd_version,
        )
    except (ClientError, ConfigError) as exc:
        print(f"painpa clients add: {exc}", file=sys.stderr)
        return 2
    if before is None:
        print(f"registered {info.iss} with FHIR bases {', '.join(info.fhir_bases)}")
    else:
        old, new = _settings(before), _settings(info)
        changed = [f"  {key}: {old[key]!r} -> {new[key]!r}" for key in new if old[key] != new[key]]
        if before.jwks and info.jwks and before.jwks != info.jwks:
            changed.append("  jwks: a different stored JWK Set")
        print(f"replaced the settings of {info.iss}: " + ("\n" + "\n".join(changed) if changed else "nothing changed"))
    insecure = [b for b in info.fhir_bases if b.startswith("http://")]
    if insecure:
        print(f"warning: plain-http FHIR bases registered ({', '.join(insecure)}): use only for local testing",
              file=sys.stderr)
    return 0


def list_(args: argparse.Namespace) -> int:
    from cds_service.clients import list_clients  # see the note on imports above

    rows = list_clients(_db())
    if args.json:
        print(json.dumps([{
            "iss": c.iss, "tenant": c.tenant, "jwks_url": c.jwks_url, "jwks_stored": c.jwks is not None,
            "fhir_bases": list(c.fhir_bases), "smart_client_id": c.smart_client_id,
            "default_state": c.defaults.state, "default_pos": c.defaults.place_of_service,
            "crd_version": c.crd_version,
        } for c in rows], indent=2))
        return 0
    if not rows:
        print("no clients registered; add one with: painpa clients add --iss ISS --jwks-url URL --fhir-base URL")
    for c in rows:
        keys = c.jwks_url or "stored JWKS"
        print(f"{c.iss}\ttenant={c.tenant or '-'}\tkeys={keys}\tfhir={','.join(c.fhir_bases)}")
    return 0


def remove(args: argparse.Namespace) -> int:
    from cds_service.clients import remove_client  # see the note on imports above

    if remove_client(_db(), args.iss):
        print(f"removed {args.iss}")
        return 0
    print(f"painpa clients remove: no client with iss {args.iss!r}", file=sys.stderr)
    return 1


def set_smart_secret(args: argparse.Namespace) -> int:
    from smart_app.registry import store_secret  # see the note on imports above

    value = None if args.clear else sys.stdin.readline().strip()
    if not args.clear and not value:
        print("painpa clients set-smart-secret: write the secret on standard input "
              "(e.g. painpa clients set-smart-secret --fhir-base URL < secret.txt)", file=sys.stderr)
        return 2
    from cds_service.clients import ClientError  # see the note on imports above

    try:
        base = store_secret(_db(), Settings.from_env(), args.fhir_base, value)
    except ClientError as exc:
        print(f"painpa clients set-smart-secret: {exc}", file=sys.stderr)
        return 2
    print(f"{'removed the' if args.clear else 'stored the sealed'} SMART client secret for {base}")
    return 0


def set_windows(args: argparse.Namespace) -> int:
    from cds_service.clients import ClientError, set_policy_windows  # see the note on imports above
    from cds_service.policy.loader import load_policies, window_keys

    known = window_keys(load_policies())
    values: dict[str, int] = {}
    for item in args.windows:
        key, _, days = item.partition("=")
        if not days.strip().isdigit():
            print(f"painpa clients set-windows: {item!r} is not KEY=DAYS; keys: {', '.join(sorted(known))}",
                  file=sys.stderr)
            return 2
        values[key.strip()] = int(days)
    try:
        info = set_policy_windows(_db(), args.iss, values, known)
    except ClientError as exc:
        print(f"painpa clients set-windows: {exc}", file=sys.stderr)
        return 2
    for key, default in sorted(known.items()):
        print(f"{key} = {dict(info.defaults.windows).get(key, default)}"
              f"{'' if key in dict(info.defaults.windows) else ' (painpa default)'}")
    return 0
