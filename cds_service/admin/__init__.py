"""Admin dashboard (issue 8): denial reasons by payer and plan over time (CMS-0057-F specific
reasons, domain.md §3), gold-card readiness (WISeR exemption, §0), payer scorecards (CMS-0057-F
public metrics) and CSV imports/exports, behind a session login. One blueprint under ``/admin``."""

from cds_service.admin.views import bp

__all__ = ["bp"]
