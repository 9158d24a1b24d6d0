"""Insights: what painpa learns beyond the single order (issue 8).

Payer decisions and their specific denial reasons (CMS-0057-F, domain.md §3) imported from PAS
ClaimResponses and CSV, mapped to policy requirements, fed back into the order cards; gold-card
readiness (WISeR exemption, domain.md §0); payer scorecards (CMS-0057-F public metrics); chronic
pain management month status (G3002/G3003, domain.md §4) as a CDS service.
"""
