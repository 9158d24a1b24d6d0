"""CDS Hooks 2.0 surface: discovery, service calls and feedback (blueprint in :mod:`.views`)."""
