"""``log``: write the intent as one structured line to the daemon's log stream.

The P3 ("logging only") level of the shipped policy uses it. It needs no
configuration and is always configured.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from actions.base import Intent, Outcome, Request

logger = logging.getLogger("escalation_handlers.actions.log")


class Log:
    name: ClassVar[str] = "log"
    schema: ClassVar[str] = "actions/log.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.level = str(config.get("level", "info")).upper()

    def configured(self) -> str | None:
        return None

    def render(self, intent: Intent) -> Request:
        body = {
            "incident_id": intent.incident_id,
            "event_id": intent.event_id,
            "severity": intent.severity,
            "service": intent.service,
            "kind": intent.kind,
            "message": dict(intent.message),
        }
        return Request(self.name, "LOG", self.level, body, intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        logger.log(getattr(logging, request.target, logging.INFO), json.dumps(request.body, sort_keys=True))
        return Outcome("ok", detail=f"logged at {request.target}")
