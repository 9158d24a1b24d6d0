"""``painpa evaluate REQUEST.json``: run one hook request offline, prefetch only, and print the CDS
response (or the policy's explanation with ``--explain``). No JWT, no FHIR query, no database:
the same handler path as the service, minus transport.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from cds_service.clock import today_utc
from cds_service.config import Settings
from cds_service.errors import Refused
from cds_service.hooks.request import InvalidRequest, parse_json, parse_request
from cds_service.hooks.service import HookCall, HookResult
from cds_service.http_errors import status_of
from cds_service.policy.explain import explain
from cds_service.policy.loader import load_policies
from cds_service.services import REGISTRY


def evaluate_file(path: Path, *, today: date, settings: Settings) -> HookResult:
    body = parse_json(path.read_bytes())
    hook = body.get("hook")
    service = REGISTRY.for_hook(hook) if isinstance(hook, str) else None
    if service is None:
        raise InvalidRequest(f"no painpa service answers hook {hook!r}", "hook")
    req = parse_request(body, service.hook)
    # Offline: the request's fhirServer/token are ignored; only prefetch is read.
    req = replace(req, fhir_server=None, access_token=None)
    call = HookCall(service=service, request=req, settings=settings, db=None, policies=load_policies(),
                    today=today, client=None)
    return service.handler(call)  # each service's own handler (patient-view: the CPM status)


def main(args: argparse.Namespace) -> int:
    try:
        today = date.fromisoformat(args.today) if args.today else today_utc()
    except ValueError:
        print(f"painpa evaluate: --today {args.today!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        result = evaluate_file(Path(args.request), today=today, settings=Settings.from_env())
    except OSError as exc:
        print(f"painpa evaluate: cannot read {args.request}: {exc.strerror}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"painpa evaluate: HTTP {status_of(exc)}: {exc.message}", file=sys.stderr)
        return 1
    if args.explain:
        print(explain(result.determinations))
    else:
        print(json.dumps(result.response, indent=2))
    return 0
