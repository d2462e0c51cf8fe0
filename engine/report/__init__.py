"""Read-only reports over the audit log, through ``engine.store.queries`` (a read-only connection; no
durable-rules, no writer): incident history and timelines, SRE metrics (MTTA/MTTR), anomaly reports,
rule coverage and change impact land here. Empty for now.
"""
