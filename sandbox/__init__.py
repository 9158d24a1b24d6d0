"""painpa sandbox EHR: FHIR R4 server, SMART authorization server, EHR screens, a Da Vinci PAS payer.

Its parts, bottom up; each imports only from the lines above it (tests/sandbox/test_layers.py):

1. ``codes``, ``keys``, ``tables``, ``scopes``, ``cdsclient``: code systems, the EHR's signing key,
   the database tables, SMART scopes, the EHR's CDS Hooks client;
2. ``tokens`` (access tokens: issued, checked, revoked) and ``state`` (the sandbox's typed state);
3. ``fhir``: the FHIR R4 server;
4. ``payer``: the Da Vinci PAS payer;
5. ``seed``: the synthetic patients and the dashboard's demo data;
6. ``roster`` (who is signed in, which patients are listed) and ``setup`` (first-start setup);
7. ``auth``: the SMART authorization server;
8. ``ehr``: the EHR screens;
9. ``app``: the app factory;
10. ``cli``: ``painpa sandbox``.
"""
