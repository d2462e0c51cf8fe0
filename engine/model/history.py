"""The ``history.*`` facts' windows and the severities they count (shared by decide's index and the store's SQL)."""

WINDOWS = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400))
COUNTED = ("CRITICAL", "MAJOR", "MODERATE")
