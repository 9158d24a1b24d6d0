"""The sandbox EHR's screens and its CDS Hooks client."""
