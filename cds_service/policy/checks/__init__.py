"""Requirement checks, registered by name (the ``check`` field of a requirement in the policy data).

Importing this package registers every check; :data:`CHECKS` maps name → function.
"""

from cds_service.policy import decay as _decay  # noqa: F401  (registers cloned_notes)
from cds_service.policy.checks import clinical as _clinical  # noqa: F401
from cds_service.policy.checks import scores as _scores  # noqa: F401
from cds_service.policy.checks import therapy as _therapy  # noqa: F401
from cds_service.policy.checks.core import CHECKS, Ctx, Outcome

__all__ = ["CHECKS", "Ctx", "Outcome"]
