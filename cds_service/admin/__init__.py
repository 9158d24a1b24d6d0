"""Admin dashboard: denial reasons by payer and plan over time (CMS-0057-F specific reasons,
domain.md §3), gold-card readiness (WISeR exemption, §0), payer scorecards (CMS-0057-F public
metrics) and CSV imports/exports, behind a session login. One blueprint under ``/admin``
(:mod:`.views`); its users in :mod:`.auth` and :mod:`.tables`; ``painpa admin`` in :mod:`.cli`."""
