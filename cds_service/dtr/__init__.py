"""Da Vinci DTR payer service (DTR 2.2.0 specification.html "Retrieving Questionnaire Packages";
CapabilityStatement dtr-payer-service): painpa's documentation forms as DTR Questionnaires, the
``$questionnaire-package`` operation and canonical resolution at the FHIR base ``{base}/dtr``."""
