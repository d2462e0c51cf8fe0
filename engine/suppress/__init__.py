"""Noise suppression and multi-signal fusion, declared in ``rules/suppression.yaml``.

Stage order inside the pipeline: decide → :class:`~engine.suppress.stage.SuppressionStage`
→ record. The typed policy is built by ``engine.compiler.suppression`` (matchers and time windows in
``engine.compiler.matchers``); ``incidents`` is the in-memory incident model, ``fusion`` the windows
over the durable-rules join (``engine.durable.join``), ``stage`` the decision per event, ``ports`` what
it needs from storage (``engine.store.incidents`` implements it).
"""
