"""Security layer of the service (CDS Hooks 2.0 §Security and Safety, §CORS; CRD security.md;
standards.md §1.9–1.10, §8; threat model in docs/security.md): the egress guard (:mod:`.egress`),
resource limits (:mod:`.limits`), rate limits (:mod:`.ratelimit`), log redaction (:mod:`.redaction`,
:mod:`.logs`), and what the app factory and the views call (:mod:`.gate`)."""
