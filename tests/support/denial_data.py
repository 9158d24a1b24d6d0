"""The seed payer history the denial and dashboard tests import (tests/denials/data): ``denials.csv``
(decisions with payer reasons), ``metrics.csv`` (public payer metrics), ``pas-decisions.json`` (PAS
ClaimResponses), and the salt the imports hash clinician identifiers with."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "denials" / "data"
SALT = "test-salt"
