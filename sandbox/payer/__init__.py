"""A Da Vinci PAS payer for the sandbox (PAS 2.2.1 ``Claim/$submit`` and ``Claim/$inquire``)."""
