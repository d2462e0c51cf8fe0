"""``rules run``'s delivery and storm-intake options: the concurrent executor's limits (engine/run/lanes.py),
the SIGTERM grace, ``--serial``, and the triage (engine/run/daemon/triage.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

_POSITIVE = click.FloatRange(min=0, min_open=True)
_OPTIONS = [
    click.option("--send-per-adapter", default=64, show_default=True, type=click.IntRange(min=1),
                 help="sends in flight per adapter (its worker threads)"),
    click.option("--send-per-key", default=48, show_default=True, type=click.IntRange(min=1),
                 help="sends in flight per destination key (PagerDuty: per routing key)"),
    click.option("--send-limit", "send_limits", multiple=True, metavar="ADAPTER=N",
                 help="sends in flight for one adapter, instead of --send-per-adapter (repeatable)"),
    click.option("--circuit-failures", default=5, show_default=True, type=click.IntRange(min=1),
                 help="consecutive vendor failures (timeout, connection, 5xx) that open an adapter's circuit"),
    click.option("--circuit-cooldown", default=15.0, show_default=True, type=_POSITIVE,
                 help="seconds an open circuit waits before one probe (doubling while it keeps failing)"),
    click.option("--circuit-max-cooldown", default=300.0, show_default=True, type=_POSITIVE,
                 help="longest wait of an open circuit"),
    click.option("--vendor-pause", default=1.0, show_default=True, type=click.FloatRange(min=0),
                 help="seconds a vendor's 429 holds its destination back at most"),
    click.option("--rate-jitter", default=2.0, show_default=True, type=click.FloatRange(min=0),
                 help="a rate-limited send waits its Retry-After plus up to this many seconds"),
    click.option("--stop-grace", default=10.0, show_default=True, type=click.FloatRange(min=0),
                 help="seconds SIGTERM waits for sends in flight (the rest are sent again after a restart)"),
    click.option("--serial", is_flag=True,
                 help="send one action at a time on the decision thread (the executor before concurrency)"),
    click.option("--no-triage", "no_triage", is_flag=True,
                 help="take files in name order only: no severity pre-pass during a backlog"),
    click.option("--triage-every", default=1.0, show_default=True, type=click.FloatRange(min=0),
                 help="seconds between two listings of incoming/ for the triage during a backlog (0: every batch)"),
    click.option("--triage-budget", default=0.5, show_default=True, type=_POSITIVE,
                 help="seconds of triage (read, parse, match the CRITICAL rules) per batch at most"),
]


def delivery_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def delivery_config(send_per_adapter: int, send_per_key: int, send_limits: tuple[str, ...], circuit_failures: int,
                    circuit_cooldown: float, circuit_max_cooldown: float, vendor_pause: float, rate_jitter: float,
                    stop_grace: float, serial: bool, no_triage: bool, triage_every: float,
                    triage_budget: float) -> dict[str, Any]:
    """The DaemonConfig fields these options set (a bad value: click's usage error, no traceback)."""
    from engine.run.lanes import Limits

    adapters: dict[str, int] = {}
    for item in send_limits:
        name, _, number = item.partition("=")
        if not name.strip() or not number.strip().isdigit() or int(number) < 1:
            raise click.BadParameter(f"{item!r}: expected ADAPTER=N with N a whole number >= 1 "
                                     "(e.g. pagerduty=32)", param_hint="--send-limit")
        adapters[name.strip()] = int(number)
    if circuit_max_cooldown < circuit_cooldown:
        raise click.BadParameter(f"{circuit_max_cooldown:g} is shorter than --circuit-cooldown "
                                 f"{circuit_cooldown:g}", param_hint="--circuit-max-cooldown")
    limits = Limits(per_adapter=send_per_adapter, per_key=send_per_key, adapters=adapters,
                    breaker_failures=circuit_failures, breaker_cooldown=circuit_cooldown,
                    breaker_max_cooldown=circuit_max_cooldown, vendor_pause=vendor_pause, rate_jitter=rate_jitter)
    return {"limits": limits, "stop_grace": stop_grace, "serial": serial, "triage": not no_triage,
            "triage_every": triage_every, "triage_budget": triage_budget}
