"""painpa's tests, one folder per part of the product:

- ``cds/``: the CDS Hooks surface (cds_service/hooks, auth, fhir, audit, clients, CLI, ops endpoints);
- ``policy/``: the pure policy engine (cds_service/policy), with the scenario goldens in ``golden/``;
- ``render/``: cards and coverage-information from determinations (cds_service/render);
- ``denials/``: denial imports, reason mapping, statistics, gold card, scorecard, evidence on cards
  (cds_service/denials);
- ``chronic_pain/``: the chronic pain management hook, card and forms (cds_service/chronic_pain);
- ``admin/``: the admin dashboard and its sign-in throttle (cds_service/admin);
- ``smart/``: the SMART on FHIR app (smart_app); ``sandbox/``: the local sandbox (sandbox);
- ``security/``: egress, limits, fuzzing, faults, redaction across the service;
- ``perf/``: speed and scale (workers, caches, the bench's smoke run);
- ``support/``: helpers and fixtures shared by these folders.
"""
