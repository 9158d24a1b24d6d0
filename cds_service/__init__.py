"""painpa: prior-authorization readiness for interventional pain orders.

A CDS Hooks 2.0 service (Da Vinci CRD 2.0.1 / 2.2 tolerant) and, beside it, a SMART App Launch 2.2
documentation app. See "How it works" in the README for the data flow:
auth -> readiness.assess (gather -> PatientRecord -> policy.evaluate -> the payer's recent denials)
-> render -> response + audit.
"""

__version__ = "0.1.0"
