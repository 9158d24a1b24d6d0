"""painpa sandbox EHR: FHIR R4 server, SMART authorization server, EHR screens, a Da Vinci PAS payer."""
