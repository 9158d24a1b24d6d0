"""``painpa clients add | list | remove | set-smart-secret | set-windows`` (ARCHITECTURE.md interface contract; CDS
Hooks 2.0 §Security: the operator's allowlist of clients, their keys and FHIR bases; SMART App Launch
2.2 ``client-confidential-symmetric`` for the app's secret at an EHR that requires one)."""

from __future__ import annotations

import argparse
import json
import sys

from cds_service.config import ConfigError, Settings

# Each action imports the client registry (SQLAlchemy, joserfc) when it runs, so that building the
# ``painpa`` parser (``painpa --help``, a usage error) loads none of it and answers at once.


def register(sub: argparse._SubParsersAction) -> None:
    clients = sub.add_parser("clients", help="register the EHRs allowed to call the service")
    csub = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    add_cmd = csub.add_parser("add", help="register (or replace) a client")
    add_cmd.add_argument("--iss", required=True, help="the iss of the client's JWTs")
    keys = add_cmd.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-url", help="URL of the client's JWK Set (also the only jku accepted)")
    keys.add_argument("--jwks-file", help="file holding the client's public JWK Set (stored now)")
    add_cmd.add_argument("--fhir-base", action="append", required=True, dest="fhir_bases", metavar="URL",
                     help="FHIR base the client may send as fhirServer (repeatable)")
    add_cmd.add_argument("--tenant")
    add_cmd.add_argument("--smart-client-id", help="the SMART app's client id at this EHR")
    add_cmd.add_argument("--default-state", help="two-letter state used when an order names no location")
    add_cmd.add_argument("--default-pos", help="CMS place-of-service code used when an order names none")
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


def add(args: argparse.Namespace) -> int:
    from cds_service.clients import ClientError, add_client, load_jwks_file  # see the note on imports above

    try:
        jwks = load_jwks_file(args.jwks_file) if args.jwks_file else None
        info = add_client(
            _db(), iss=args.iss, fhir_bases=args.fhir_bases, jwks_url=args.jwks_url, jwks=jwks,
            tenant=args.tenant, smart_client_id=args.smart_client_id,
            default_state=args.default_state, default_pos=args.default_pos,
        )
    except (ClientError, ConfigError) as exc:
        print(f"painpa clients add: {exc}", file=sys.stderr)
        return 2
    insecure = [b for b in info.fhir_bases if b.startswith("http://")]
    print(f"registered {info.iss} with FHIR bases {', '.join(info.fhir_bases)}")
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
