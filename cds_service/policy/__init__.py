"""The pure domain core: which program applies to an order, what it requires, whether the chart
already satisfies it, with evidence. No Flask, no HTTP, no clock reads: ``today`` is a parameter.

Entry point: :func:`cds_service.policy.engine.evaluate`.
"""
