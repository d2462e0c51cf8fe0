"""``failover``: point a Route 53 DNS record at its secondary target, verifying state before and after.

Takes an :class:`Intent`; ``send`` reads the record set (already pointing at the target: no
change, ``response["changed"]`` false), UPSERTs it (``ChangeResourceRecordSets``), then reads
the change (``GetChange``: ``INSYNC`` gives ``ok``, ``PENDING`` gives ``accepted``) and the
record set again, which must now show the target. Running it twice changes nothing the second
time. The previous values are returned (``response["previous"]``, ``memo``) for a later failback.

It manages one *simple* record. A record with a routing policy (a ``SetIdentifier``: Route 53's
own ``Failover: PRIMARY|SECONDARY`` with health checks, weighted, latency...) is refused
(``clientError``) without a change: Route 53 fails those over by itself.

Config (``schemas/actions/failover.schema.json``): ``records`` (service → ``{zone_id, record,
type, to, ttl}``, merged under the intent's params), ``region`` (signing only; Route 53 is
global; default ``us-east-1``), ``instance_role``, ``timeout`` (seconds per call, default 10).

Env: the standard AWS variables (see :mod:`actions.aws`): ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` or ``AWS_PROFILE``; ``AWS_REGION`` /
``AWS_DEFAULT_REGION`` (signing only); ``AWS_ENDPOINT_URL``.

Intent: ``params`` ``zone_id`` (``Z…`` or ``/hostedzone/Z…``), ``record`` (``api.example.com.``),
``type`` (``CNAME`` default, ``A`` or ``AAAA``), ``to`` (a value, or a list for A/AAAA), ``ttl``
(default 60). ``message`` is not read. With config ``allow`` (DNS names; a trailing dot and case
do not matter) the record and every ``to`` value must be listed, else ``clientError``;
``rules validate`` rejects a templated ``record`` or ``to`` without ``allow``.

Failures: throttling and ``PriorRequestNotComplete`` → ``rateLimited``, retried; unknown zone,
invalid batch → ``clientError``; auth → ``authError``; AWS 5xx → retried.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from actions import aws
from actions.base import ActionFailed, Intent, Outcome, Request

ZONE_ID = re.compile(r"^(/hostedzone/)?([A-Z0-9]{1,32})$")
HOSTNAME = re.compile(r"^(?=.{1,254}$)(\*\.)?([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
                      r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$")


def _dns(name: str) -> str:
    return name.lower().rstrip(".")


def _reject(why: str) -> ActionFailed:
    return ActionFailed(f"failover: {why}", retryable=False, reason="clientError")


def _valid(kind: str, value: str) -> bool:
    if kind == "CNAME":
        return HOSTNAME.fullmatch(value) is not None
    try:
        return ipaddress.ip_address(value).version == (4 if kind == "A" else 6)
    except ValueError:
        return False


def _values(kind: str, to: Any) -> list[str]:
    values = [str(v) for v in (to if isinstance(to, list | tuple) else [to]) if v not in (None, "")]
    if not values or (kind == "CNAME" and len(values) != 1):
        wanted = "one host name" if kind == "CNAME" else "an address or a list of addresses"
        raise _reject(f"'to' must be {wanted}, got {to!r}")
    for value in values:
        if not _valid(kind, value):
            raise _reject(f"{value[:80]!r} is not a valid {kind} value")
    return values


def _same(kind: str, a: list[str], b: list[str]) -> bool:
    if kind == "CNAME":
        return [v.rstrip(".").lower() for v in a] == [v.rstrip(".").lower() for v in b]
    return sorted(ipaddress.ip_address(v) for v in a) == sorted(ipaddress.ip_address(v) for v in b)


class Failover:
    name: ClassVar[str] = "failover"
    schema: ClassVar[str] = "actions/failover.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = aws.ENV_VARS

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.records = {str(k): dict(v) for k, v in dict(config.get("records", {})).items()}
        allow = config.get("allow")
        self.allow = None if allow is None else {_dns(str(a)) for a in allow}
        self.region = str(aws.region(config, env, default="us-east-1"))
        self.instance_role = bool(config.get("instance_role", False))
        self.timeout = float(config.get("timeout", 10))
        self.env = env

    def _check_allowed(self, record: str, values: list[str]) -> None:
        """With config ``allow``, the record and every value it would point at must be listed there."""
        if self.allow is None:
            return
        for name in (record, *values):
            if _dns(name) not in self.allow:
                raise _reject(f"refusing {name[:120]!r}: not in the policy's allow list")

    def configured(self) -> str | None:
        return aws.problem(self.env, self.region, self.instance_role)

    def render(self, intent: Intent) -> Request:
        spec = {**self.records.get(intent.service, {}), **intent.params}
        zone = ZONE_ID.fullmatch(str(spec.get("zone_id", "")))
        if not zone:
            raise _reject(f"zone_id must be a Route 53 hosted zone id, got {spec.get('zone_id')!r}")
        record = str(spec.get("record", ""))
        if not HOSTNAME.fullmatch(record):
            raise _reject(f"record must be a DNS name, got {record[:80]!r}")
        kind = str(spec.get("type", "CNAME")).upper()
        if kind not in ("CNAME", "A", "AAAA"):
            raise _reject(f"type must be CNAME, A or AAAA, got {kind!r}")
        ttl = spec.get("ttl", 60)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 172800:
            raise _reject(f"ttl must be a whole number of seconds (0-172800), got {ttl!r}")
        values = _values(kind, spec.get("to"))
        self._check_allowed(record, values)
        body = {
            "zone_id": zone.group(2),
            "record": record.lower().rstrip(".") + ".",
            "type": kind,
            "values": values,
            "ttl": ttl,
            "comment": f"escalation-handlers failover for incident {intent.incident_id}"[:256],
        }
        return Request(self.name, "AWS", f"route53:{body['zone_id']}", body, intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        problem = self.configured()
        if problem:
            raise ActionFailed(f"failover: {problem}", retryable=False, reason="authError")
        body = request.body
        name, kind, values = body["record"], body["type"], body["values"]
        try:
            client = aws.client("route53", self.env, self.region, self.timeout)
            previous = self._current(client, body)
            result: dict[str, Any] = {"record": name, "type": kind, "values": values, "previous": previous}
            if previous is not None and _same(kind, previous, values):
                detail = f"{name} {kind} already points at {', '.join(values)}; nothing changed"
                return Outcome("ok", detail=detail, response={**result, "changed": False})
            record_set = {"Name": name, "Type": kind, "TTL": body["ttl"],
                          "ResourceRecords": [{"Value": v} for v in values]}
            change = client.change_resource_record_sets(
                HostedZoneId=body["zone_id"],
                ChangeBatch={"Comment": body["comment"],
                             "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record_set}]},
            )
            info = client.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]
            after = self._current(client, body)
        except aws.AWSError as exc:
            raise aws.classify(exc, f"failover {name}") from None
        if after is None or not _same(kind, after, values):
            raise ActionFailed(f"failover: {name} {kind} shows {after} after the change, not {values}",
                               retryable=True, reason="other")
        result.update(changed=True, change_id=info["Id"], change_status=info["Status"])
        before = ", ".join(previous or ["(none)"])
        detail = f"{name} {kind}: {before} -> {', '.join(values)} ({info['Status']})"
        status = "ok" if info["Status"] == "INSYNC" else "accepted"
        return Outcome(status, detail=detail, response=result, memo={"failover_previous": previous})

    @staticmethod
    def _current(client: Any, body: Mapping[str, Any]) -> list[str] | None:
        """The record set's values, or ``None`` when there is no such record."""
        answer = client.list_resource_record_sets(
            HostedZoneId=body["zone_id"], StartRecordName=body["record"], StartRecordType=body["type"],
            MaxItems="1",
        )
        for found in answer["ResourceRecordSets"]:
            if found["Name"].lower() == body["record"] and found["Type"] == body["type"]:
                if "SetIdentifier" in found:
                    raise _reject(f"{body['record']} {body['type']} has a routing policy (SetIdentifier "
                                  f"{found['SetIdentifier']!r}); only simple records are switched")
                return [r["Value"] for r in found.get("ResourceRecords", [])]
        return None
