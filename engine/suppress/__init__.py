"""Noise suppression and multi-signal fusion, declared in ``rules/suppression.yaml``.

Stage order inside the pipeline: decide → :class:`~engine.suppress.stage.SuppressionStage`
→ record. ``config`` builds the typed policy (with Diagnostics), ``match`` holds matchers
and time windows, ``incidents`` the in-memory incident model, ``store`` the append-only
sqlite tables, ``fusion`` the durable-rules join, ``stage`` the decision per event.
"""
