"""Payer decisions and what they teach (CMS-0057-F specific denial reasons and public metrics,
domain.md §3): decisions imported from PAS ClaimResponses and CSV files (:mod:`.imports`,
:mod:`.pas_import`, :mod:`.csv_import`), each reason mapped to the policy requirement it concerns
(:mod:`.mapping`, rules in fhir_profiles/denials), statistics for the dashboard (:mod:`.stats`),
gold-card readiness (WISeR exemption, domain.md §0: :mod:`.goldcard`), payer scorecards
(:mod:`.scorecard`), and the recent denials of a plan for a new order's readiness (:mod:`.feed`)."""
