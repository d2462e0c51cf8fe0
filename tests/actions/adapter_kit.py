"""Helpers for adapter tests: vendor fixtures, a scripted request recorder for
pytest_httpserver, a fake clock, a recording ``sleep`` and a sample :class:`Intent`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from werkzeug import Request, Response

from actions import aws
from actions.base import Intent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps(list):
    """An injected ``sleep`` that records delays instead of sleeping (and moves a fake clock)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__()
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


class Recorder:
    """A server handler that answers from a script and records every request it receives
    (counted on arrival, so a request whose answer the client gave up on still counts)."""

    def __init__(self, *answers: Callable[[Request], Response] | Response) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(
            {
                "path": request.path,
                "query": request.args.to_dict(),
                "headers": dict(request.headers),
                "json": request.get_json(silent=True),
                "data": request.get_data(as_text=True),
            }
        )
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return answer(request) if callable(answer) and not isinstance(answer, Response) else answer

    @property
    def bodies(self) -> list[Any]:
        return [r["json"] for r in self.requests]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


IN_FLIGHT: list[threading.Event] = []  # slow handlers still sleeping; conftest waits for them


def slow(seconds: float, then: Response) -> Callable[[Request], Response]:
    def answer(request: Request) -> Response:
        done = threading.Event()
        IN_FLIGHT.append(done)
        try:
            time.sleep(seconds)
            return then
        finally:
            done.set()

    return answer


def make_intent(**overrides: Any) -> Intent:
    fields: dict[str, Any] = {
        "action": "pagerduty",
        "kind": "page",
        "incident_id": "inc-payment-api-prod-20240501",
        "event_id": "evt-1",
        "severity": "CRITICAL",
        "service": "payment-api",
        "environment": "prod",
        "level": "P1",
        "targets": ("payments-oncall",),
        "message": {"summary": "payment-api error rate 12% (threshold 5%)"},
        "details": {"error_rate": 0.12, "region": "eu-west-1"},
        "links": ({"href": "https://runbooks.example.com/payment-api", "text": "Runbook"},),
        "step": 0,
        "rule_id": "page-critical",
    }
    fields.update(overrides)
    return Intent(**fields)


class Calls:
    """Wraps ``aws.client`` to record every API call the adapter makes, and to fail chosen ones."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[int, str] = {}  # index of call -> AWS error code to answer with
        self._real = aws.client

    def client(self, *args: Any, **kwargs: Any) -> Any:
        client = self._real(*args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", self._record)
        client.meta.events.register("before-call.*.*", self._maybe_fail)
        return client

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append((model.name, dict(params)))

    def _maybe_fail(self, **_: Any) -> Any:
        code = self.fail.pop(len(self.made) - 1, None)
        if code is None:
            return None
        return SimpleNamespace(status_code=400), {"Error": {"Code": code, "Message": "injected"},
                                                   "ResponseMetadata": {"HTTPStatusCode": 400}}

    def names(self) -> list[str]:
        return [name for name, _ in self.made]
