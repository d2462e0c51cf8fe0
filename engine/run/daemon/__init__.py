"""``rules run``: the loop (``loop``) over the spool (``spool``, ``files``), the HTTP intake (``http``), the
outbox slices (``outbox``), the audit-log health (``health``), the single-writer lock (``lock``), GC tuning
(``heap``), rule reloads (``reload``), Prometheus metrics (``metrics``) and JSON logs (``logs``)."""
