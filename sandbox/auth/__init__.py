"""The sandbox's SMART on FHIR authorization server (SMART App Launch 2.2, built on authlib)."""
