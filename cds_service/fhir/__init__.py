"""FHIR data access for hook calls: prefetch first, then standard FHIR REST against the registered
``fhirServer`` only (CDS Hooks 2.0 "Providing FHIR Resources to a CDS Service")."""
