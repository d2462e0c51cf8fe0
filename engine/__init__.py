"""escalation-handlers engine, by layer in data-flow order: model → compiler → intake → durable → decide →
suppress → store → run → report → cli (README "Architecture"; the import rules are tests/test_layers.py)."""
