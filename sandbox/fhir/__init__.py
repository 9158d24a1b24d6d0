"""The sandbox's FHIR R4 (4.0.1) server: the stand-in for an EHR's FHIR API (FHIR R4 RESTful API)."""
