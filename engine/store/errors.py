"""sqlite errors leave the store as :class:`~engine.model.errors.AuditError`, chained."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from engine.model.errors import AuditError

C = TypeVar("C", bound=type)
# The hot path's deferred writes: only ever called from inside a translated method (a record_* writer, a
# reader that flushes first, commit), so a second try/except per row would buy nothing.
UNTRANSLATED = frozenset({"defer", "flush"})


def translate_errors(cls: C) -> C:
    """Every public method of ``cls`` (and its bases) raises :class:`AuditError` for a sqlite error, chained:
    nothing above this package catches (or imports) sqlite3. The instance names its file as ``path``."""
    for klass in cls.__mro__[:-1]:
        for name, fn in list(vars(klass).items()):
            if name.startswith("_") or name in UNTRANSLATED or not callable(fn) or getattr(fn, "_translated", False):
                continue
            setattr(cls, name, _translated(fn))
    return cls


def _translated(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise AuditError(f"audit log {self.path or 'in memory'}: {exc}") from exc

    call._translated = True  # type: ignore[attr-defined]
    return call
