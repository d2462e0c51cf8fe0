"""Plain data and pure helpers on it: events, the policy, firings, the on-call schedule, diagnostics, errors, the clock.

Imports nothing else from ``engine`` (``actions.base``, the adapter contract, counts as model).
"""
