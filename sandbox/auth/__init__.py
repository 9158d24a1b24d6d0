"""The sandbox's SMART on FHIR authorization server (SMART App Launch 2.2, built on authlib): its
endpoints, grants, client authentication and EHR launch ids. The tokens it issues and the scopes
they carry are ``sandbox.tokens`` and ``sandbox.scopes``, which the FHIR server and the payer check."""
