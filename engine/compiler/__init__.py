"""Rule files → a ``CompiledPolicy``: ``load`` (safe YAML + source map) → ``validate`` (schemas, the typed
``Policy``) → ``checks`` (semantic checks, diagnostics with file:line:col) → ``compile`` (one durable-rules
ruleset as plain data). Conditions, templates, suppression matchers and condition implication live here too.
"""
