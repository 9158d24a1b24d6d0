"""painpa's SMART on FHIR documentation app (SMART App Launch 2.2; standards.md §5, §9.3): launch and
tokens, the worklist computed by the CDS service's own readiness assessment
(cds_service/readiness.py), FHIR-native fix forms (SDC Questionnaires with template extraction),
the PA packet and Da Vinci PAS submission."""
