"""Authentication of CDS clients (CDS Hooks 2.0 §Trusting CDS Clients)."""

from cds_service.auth.jwt import AuthError, authenticate

__all__ = ["AuthError", "authenticate"]
