"""The only package that speaks SQL (sqlite3, sqlite_utils): the append-only audit log and everything kept in it.

``audit.Audit`` is the store: one connection, one buffer of deferred rows, ``transaction(on_rollback=…)``;
``outbox`` (actions, attempts, results, acks), ``incidents`` (the suppression tables), ``history`` (the SQL
behind ``history.*``), ``queries`` (read-only, for reports and training), ``migrations`` (every table and
index, named and ordered). A sqlite error leaves this package as :class:`~engine.model.errors.AuditError`.
"""
