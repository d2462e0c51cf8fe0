"""Action registry: adapter name → class, from the ``escalation_handlers.actions``
entry-point group.

Built-in adapters are registered through the same entry points (see ``pyproject.toml``),
so a third-party package adds an action by declaring one entry point, with no change here.
Classes are imported on first use, so one broken plug-in cannot stop the others.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from actions.base import Action, ActionConfigError

GROUP = "escalation_handlers.actions"


class Registry:
    """Maps action names to adapter classes (loaded lazily)."""

    def __init__(self, classes: Mapping[str, type[Action] | Callable[[], type[Action]]] | None = None) -> None:
        self._loaders: dict[str, Callable[[], type[Action]]] = {}
        self._classes: dict[str, type[Action]] = {}
        for name, item in (classes or {}).items():
            if isinstance(item, type):
                self._classes[name] = item
            else:
                self._loaders[name] = item

    @classmethod
    def from_entry_points(cls) -> Registry:
        return cls({ep.name: ep.load for ep in entry_points(group=GROUP)})

    def register(self, adapter: type[Action]) -> None:
        self._classes[adapter.name] = adapter

    def names(self) -> list[str]:
        return sorted(set(self._classes) | set(self._loaders))

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in self._loaders

    def get(self, name: str) -> type[Action]:
        if name in self._classes:
            return self._classes[name]
        if name not in self._loaders:
            raise ActionConfigError(self.unknown_message(name))
        try:
            adapter = self._loaders[name]()
        except Exception as exc:  # a broken plug-in: report it, keep the others usable
            raise ActionConfigError(f"action {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
        self._classes[name] = adapter
        return adapter

    def unknown_message(self, name: str) -> str:
        msg = f"unknown action {name!r}; available actions are: {', '.join(self.names())}"
        close = difflib.get_close_matches(name, self.names(), n=1)
        return msg + (f' (did you mean "{close[0]}"?)' if close else "")

    def create(self, name: str, config: Mapping[str, Any], env: Mapping[str, str]) -> Action:
        return self.get(name)(config, env)


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of installed adapters (entry points), built once per process."""
    global _default
    if _default is None:
        _default = Registry.from_entry_points()
    return _default
