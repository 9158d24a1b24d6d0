"""painpa benchmarks (CRD foundation "Performance", standards.md §2.7 and §7; figures and targets
per run in bench/RESULTS.md).

``python -m bench`` (``make bench``) drives order-select and order-sign over real HTTP against
``painpa serve`` under gunicorn, beside a bare Flask baseline under the same gunicorn settings.
Benchmarks print figures; they are never timed tests (tests/perf only checks the figures are
well-formed).
"""
