"""Helpers shared by the test folders, one concept per module. The fixtures several folders use are
in ``cds_fixtures`` and ``policy_fixtures``, loaded for every test by tests/conftest.py."""
