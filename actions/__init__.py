"""Action adapters: one module per integration, all on the interface in :mod:`actions.base`."""

from actions.base import Action, ActionConfigError, ActionError, ActionFailed, Intent, Outcome, Request

__all__ = ["Action", "ActionConfigError", "ActionError", "ActionFailed", "Intent", "Outcome", "Request"]
