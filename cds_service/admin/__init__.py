"""Admin dashboard (issue 8): denial reasons by payer and plan over time (CMS-0057-F specific
reasons, domain.md §3), gold-card readiness (WISeR exemption, §0), payer scorecards (CMS-0057-F
public metrics) and CSV imports/exports, behind a session login. One blueprint under ``/admin``."""


__all__ = ["bp"]


def __getattr__(name: str):
    # The blueprint is imported on first use only, so that ``painpa admin …`` (whose parser lives in
    # cds_service.admin.cli) and every other command start without loading Flask.
    if name == "bp":
        from cds_service.admin.views import bp

        return bp
    raise AttributeError(name)
