"""``scale-out``: raise an AWS Auto Scaling group's desired capacity by a step, never past its maximum.

Takes an :class:`Intent`; ``send`` describes the group, sets
``desired = min(current + step, MaxSize, max)`` with ``SetDesiredCapacity(HonorCooldown=True)``
and describes it again to verify. Already at the ceiling: nothing is called and the outcome says
so (``response["changed"]`` is false). It never scales in. A retry of the same intent aims at
the capacity the first attempt chose, so a lost answer cannot scale out twice: the choice is
kept in memory and, before ``SetDesiredCapacity``, on the group itself as the tag
``escalation-handlers:scale-out`` = ``<hash of the intent's idempotency key>=<capacity>``, so a
retry after a daemon restart finds it too (IAM: ``autoscaling:CreateOrUpdateTags``; without that
permission the action still scales, and the outcome says a restart mid-retry could add a step).

Config (``schemas/actions/scale-out.schema.json``): ``groups`` (service → group name),
``step`` (default 1), ``max`` (hard ceiling for every group; rules cannot raise it),
``region``, ``instance_role`` (allow the EC2 instance role), ``timeout`` (seconds per call, 10).

Env: the standard AWS variables (see :mod:`actions.aws`): ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` or ``AWS_PROFILE``; ``AWS_REGION`` /
``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL``.

Intent: ``params`` ``asg`` (else ``groups[service]``, else ``intent.service``), ``step``, ``max``
(the lower of this and config ``max`` applies). ``message`` is not read. With config ``allow``
(a list of group names) any other group is refused; without it, a group taken from the event's
``service`` is refused (``rules validate`` rejects a templated ``asg`` without ``allow``).

Failures: throttling → ``rateLimited`` and scaling activity in progress or cooldown → ``other``,
both retried; unknown group → ``clientError``; auth → ``authError``; AWS 5xx → retried.

Out of scope: Azure VM scale sets (``PATCH .../virtualMachineScaleSets/{name}`` with
``{"sku": {"capacity": N}}``, a long-running operation) would be a separate adapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from actions import aws
from actions.base import ActionFailed, Intent, Outcome, Request

TAG = "escalation-handlers:scale-out"  # on the group: "<intent mark>=<desired capacity that intent chose>"


def _mark(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def _recorded(group: Mapping[str, Any], mark: str) -> int | None:
    """The capacity an earlier attempt of this intent chose, from the group's tag (any process)."""
    for tag in group.get("Tags") or ():
        value = str(tag.get("Value", ""))
        if tag.get("Key") == TAG and value.startswith(f"{mark}=") and value[len(mark) + 1:].isdigit():
            return int(value[len(mark) + 1:])
    return None


def _reject(why: str) -> ActionFailed:
    return ActionFailed(f"scale-out: {why}", retryable=False, reason="clientError")


def _count(value: Any, what: str, minimum: int) -> int:
    text = str(value)
    if isinstance(value, bool) or not isinstance(value, int | str) or not (text.isascii() and text.isdigit()):
        raise _reject(f"{what} must be a whole number, got {value!r}")
    if int(value) < minimum:
        raise _reject(f"{what} must be at least {minimum}, got {value}")
    return int(value)


class ScaleOut:
    name: ClassVar[str] = "scale-out"
    schema: ClassVar[str] = "actions/scale-out.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = aws.ENV_VARS

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.groups = {str(k): str(v) for k, v in dict(config.get("groups", {})).items()}
        allow = config.get("allow")
        self.allow = None if allow is None else {str(a) for a in allow}
        self.step = config.get("step", 1)
        self.max = config.get("max")
        self.region = aws.region(config, env)
        self.instance_role = bool(config.get("instance_role", False))
        self.timeout = float(config.get("timeout", 10))
        self.env = env
        self._chosen: dict[str, int] = {}  # idempotency key -> desired capacity an attempt set

    def configured(self) -> str | None:
        return aws.problem(self.env, self.region, self.instance_role)

    def render(self, intent: Intent) -> Request:
        params = intent.params
        asg = str(params.get("asg") or self.groups.get(intent.service) or "")
        from_event = not asg
        asg = asg or intent.service
        if not 1 <= len(asg) <= 255 or not asg.isprintable():
            raise _reject(f"invalid Auto Scaling group name {asg[:80]!r}")
        if self.allow is not None and asg not in self.allow:
            raise _reject(f"refusing group {asg[:120]!r}: not in the policy's allow list")
        if self.allow is None and from_event:
            raise _reject(f"refusing group {asg[:120]!r} taken from the event's service: name it in params or "
                          "'groups', or list it in 'allow'")
        step = _count(params.get("step", self.step), "step", 1)
        limits = [_count(v, "max", 0) for v in (self.max, params.get("max")) if v is not None]
        body = {"asg": asg, "step": step, "max": min(limits) if limits else None, "region": self.region}
        return Request(self.name, "AWS", f"autoscaling:{self.region}", body, intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        problem = self.configured()
        if problem:
            raise ActionFailed(f"scale-out: {problem}", retryable=False, reason="authError")
        body, key = request.body, request.idempotency_key
        asg = body["asg"]
        try:
            client = aws.client("autoscaling", self.env, body["region"], self.timeout)
            group = self._describe(client, asg)
            current, ceiling = group["DesiredCapacity"], group["MaxSize"]
            if body["max"] is not None:
                ceiling = min(ceiling, body["max"])
            mark = _mark(key)
            chosen = self._chosen.get(key)
            if chosen is None:
                chosen = _recorded(group, mark)
            wanted = chosen if chosen is not None else min(current + body["step"], ceiling)
            result = {"asg": asg, "previous": current, "desired": current, "max": ceiling, "changed": False}
            if current >= wanted:
                if chosen is not None:  # an earlier attempt of this intent already scaled
                    result["changed"] = True
                    return Outcome("ok", detail=f"{asg}: desired capacity is {current}", response=result)
                detail = f"{asg}: already at its maximum ({current} of {ceiling}); nothing changed"
                return Outcome("ok", detail=detail, response=result)
            self._chosen[key] = wanted
            remembered = self._remember(client, asg, mark, wanted)
            client.set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=wanted, HonorCooldown=True)
            after = self._describe(client, asg)["DesiredCapacity"]
        except aws.AWSError as exc:
            raise aws.classify(exc, f"scale-out {asg}") from None
        if after < wanted:
            raise ActionFailed(f"scale-out: {asg} desired capacity is {after} after setting {wanted}",
                               retryable=True, reason="other")
        result.update(desired=after, changed=True)
        detail = f"{asg}: desired capacity {current} -> {after} (max {ceiling})"
        if not remembered:
            detail += f"; the choice is not tagged on the group ({TAG}: no permission?), so a retry after a restart " \
                      "could add a step"
        return Outcome("ok", detail=detail, response=result)

    @staticmethod
    def _remember(client: Any, asg: str, mark: str, wanted: int) -> bool:
        """Tag the group with this intent's choice before acting on it; False when the tag cannot be written."""
        try:
            client.create_or_update_tags(Tags=[{"ResourceId": asg, "ResourceType": "auto-scaling-group", "Key": TAG,
                                                "Value": f"{mark}={wanted}", "PropagateAtLaunch": False}])
        except aws.AWSError:
            return False
        return True

    @staticmethod
    def _describe(client: Any, asg: str) -> dict[str, Any]:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"]
        if not groups:
            raise _reject(f"no Auto Scaling group named {asg!r}")
        return groups[0]
