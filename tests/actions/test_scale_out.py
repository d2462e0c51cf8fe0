"""scale-out adapter against moto (in-process AWS) with a real launch template and Auto Scaling group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from adapter_kit import Calls
from moto import mock_aws
from pytest_httpserver import HTTPServer

from actions import aws
from actions.base import ActionFailed, Intent
from actions.retry import execute
from actions.scale_out import TAG, ScaleOut, _mark

REGION = "us-east-1"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    recorder = Calls()
    monkeypatch.setattr(aws, "client", recorder.client)
    return recorder


@pytest.fixture(scope="module")
def moto_group() -> Iterator[Any]:
    """One mocked account per module (starting EC2 in moto takes a while); tests reset the group."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        template = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        ec2.create_launch_template(LaunchTemplateName="payment-api", LaunchTemplateData=template)
        client = boto3.client("autoscaling", region_name=REGION)
        client.create_auto_scaling_group(
            AutoScalingGroupName="payment-api-asg",
            LaunchTemplate={"LaunchTemplateName": "payment-api", "Version": "$Latest"},
            MinSize=1, MaxSize=4, DesiredCapacity=2, AvailabilityZones=[f"{REGION}a"],
        )
        yield client


@pytest.fixture
def autoscaling(moto_group: Any, calls: Calls) -> Any:
    moto_group.update_auto_scaling_group(
        AutoScalingGroupName="payment-api-asg", MinSize=1, MaxSize=4, DesiredCapacity=2
    )
    moto_group.delete_tags(Tags=[{"ResourceId": "payment-api-asg", "ResourceType": "auto-scaling-group",
                                  "Key": TAG}])  # an earlier test's choice for the same intent
    assert desired(moto_group) == 2
    return moto_group


def desired(client: Any) -> int:
    answer = client.describe_auto_scaling_groups(AutoScalingGroupNames=["payment-api-asg"])
    return answer["AutoScalingGroups"][0]["DesiredCapacity"]


def intent(params: dict[str, Any] | None = None, step: int = 0) -> Intent:
    return Intent(action="scale-out", kind="remediate", incident_id="INC-9", event_id="ev-9",
                  severity="MAJOR", service="payment-api", params=params or {}, step=step)


CONFIG = {"groups": {"payment-api": "payment-api-asg"}}


def test_scales_out_by_one_step_with_cooldown_honoured_and_verifies(autoscaling: Any, calls: Calls) -> None:
    adapter = ScaleOut(CONFIG, ENV)
    assert adapter.configured() is None
    outcome = adapter.send(adapter.render(intent()))
    assert desired(autoscaling) == 3
    want = {"asg": "payment-api-asg", "previous": 2, "desired": 3, "max": 4, "changed": True}
    assert outcome.response == want
    describe = ("DescribeAutoScalingGroups", {"AutoScalingGroupNames": ["payment-api-asg"]})
    tag = {"Tags": [{"ResourceId": "payment-api-asg", "ResourceType": "auto-scaling-group", "Key": TAG,
                     "Value": f"{_mark(intent().idempotency_key)}=3", "PropagateAtLaunch": False}]}
    set_desired = {"AutoScalingGroupName": "payment-api-asg", "DesiredCapacity": 3, "HonorCooldown": True}
    assert calls.made == [describe, ("CreateOrUpdateTags", tag), ("SetDesiredCapacity", set_desired), describe]
    assert "not tagged" not in outcome.detail


def test_step_is_clamped_to_the_groups_max_size(autoscaling: Any) -> None:
    adapter = ScaleOut(CONFIG, ENV)
    outcome = adapter.send(adapter.render(intent({"step": 10})))
    assert desired(autoscaling) == 4 and outcome.response["max"] == 4


def test_configured_max_wins_over_a_rules_higher_max(autoscaling: Any) -> None:
    adapter = ScaleOut({**CONFIG, "max": 3}, ENV)
    request = adapter.render(intent({"step": 5, "max": 10}))
    assert request.body["max"] == 3
    adapter.send(request)
    assert desired(autoscaling) == 3


def test_at_max_nothing_is_called_and_the_outcome_says_so(autoscaling: Any, calls: Calls) -> None:
    autoscaling.set_desired_capacity(AutoScalingGroupName="payment-api-asg", DesiredCapacity=4)
    adapter = ScaleOut(CONFIG, ENV)
    outcome = adapter.send(adapter.render(intent()))
    assert outcome.response["changed"] is False and "already at its maximum (4 of 4)" in outcome.detail
    assert calls.names() == ["DescribeAutoScalingGroups"]
    assert desired(autoscaling) == 4


def test_never_scales_in_when_above_the_configured_max(autoscaling: Any, calls: Calls) -> None:
    adapter = ScaleOut({**CONFIG, "max": 1}, ENV)
    outcome = adapter.send(adapter.render(intent()))
    assert outcome.response["changed"] is False and desired(autoscaling) == 2
    assert "SetDesiredCapacity" not in calls.names()


def test_lost_verification_is_retried_without_scaling_twice(autoscaling: Any, calls: Calls) -> None:
    calls.fail = {3: "Throttling"}  # the describe after SetDesiredCapacity is throttled
    adapter = ScaleOut(CONFIG, ENV)
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), sleep=slept.append)
    assert run.ok and [a.reason for a in run.attempts] == ["rateLimited", None] and len(slept) == 1
    assert calls.names().count("SetDesiredCapacity") == 1
    assert desired(autoscaling) == 3


def test_a_retry_after_a_restart_does_not_scale_twice(autoscaling: Any, calls: Calls) -> None:
    """The verification was lost and the daemon restarted: a new adapter (nothing in memory) retries the
    same intent. The group's tag says what the first attempt chose, so no second step is added."""
    calls.fail = {3: "Throttling"}  # the describe after SetDesiredCapacity
    first = ScaleOut(CONFIG, ENV)
    with pytest.raises(ActionFailed):
        first.send(first.render(intent()))
    assert desired(autoscaling) == 3
    after_restart = ScaleOut(CONFIG, ENV)
    outcome = after_restart.send(after_restart.render(intent()))
    assert desired(autoscaling) == 3 and outcome.response["changed"] is True
    assert calls.names().count("SetDesiredCapacity") == 1
    other = after_restart.send(after_restart.render(intent(step=1)))  # another intent scales as usual
    assert desired(autoscaling) == 4 and other.response["previous"] == 3


def test_without_tag_permission_it_still_scales_and_says_so(autoscaling: Any, calls: Calls) -> None:
    calls.fail = {1: "AccessDenied"}  # CreateOrUpdateTags
    adapter = ScaleOut(CONFIG, ENV)
    outcome = adapter.send(adapter.render(intent()))
    assert desired(autoscaling) == 3
    assert "not tagged on the group" in outcome.detail and "could add a step" in outcome.detail


def test_scaling_in_progress_is_retryable(autoscaling: Any, calls: Calls) -> None:
    calls.fail = {2: "ScalingActivityInProgress"}  # SetDesiredCapacity
    adapter = ScaleOut(CONFIG, ENV)
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    assert run.ok and run.attempts[0].retryable and run.attempts[0].reason == "other"
    assert desired(autoscaling) == 3


def test_unknown_group_is_a_permanent_client_error(autoscaling: Any) -> None:
    adapter = ScaleOut({}, ENV)
    run = execute(adapter, adapter.render(intent({"asg": "nope"})), sleep=lambda s: None)
    assert len(run.attempts) == 1 and run.attempts[0].reason == "clientError"
    assert "no Auto Scaling group named 'nope'" in run.attempts[0].detail


@pytest.mark.parametrize("params", [{"step": 0}, {"step": -1}, {"step": "two"}, {"step": True}, {"max": -1},
                                    {"step": "\u00b2"}])  # "²": a digit to str.isdigit, not to int()
def test_bad_numbers_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ActionFailed) as info:
        ScaleOut(CONFIG, ENV).render(intent(params))
    assert info.value.reason == "clientError"


def test_unconfigured_names_the_variable() -> None:
    assert ScaleOut({}, {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}).configured() == (
        "AWS_REGION is not set (nor AWS_DEFAULT_REGION or config 'region')"
    )
    assert ScaleOut({}, {"AWS_ACCESS_KEY_ID": "k", "AWS_REGION": REGION}).configured() == (
        "AWS_SECRET_ACCESS_KEY is not set"
    )
    adapter = ScaleOut({"region": REGION, **CONFIG}, {})
    assert adapter.configured().startswith("AWS_ACCESS_KEY_ID is not set")
    assert ScaleOut({"region": REGION, "instance_role": True}, {}).configured() is None
    assert ScaleOut({}, {"AWS_PROFILE": "ops", "AWS_DEFAULT_REGION": REGION}).configured() is None
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError"


def test_endpoint_override_is_used_and_aws_5xx_is_retryable(httpserver: HTTPServer, calls: Calls) -> None:
    error = "<ErrorResponse><Error><Code>InternalFailure</Code><Message>x</Message></Error></ErrorResponse>"
    httpserver.expect_request("/", method="POST").respond_with_data(error, 500, content_type="text/xml")
    adapter = ScaleOut(CONFIG, {**ENV, "AWS_ENDPOINT_URL": httpserver.url_for("/")})
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.retryable and info.value.reason == "serverError" and info.value.status == 500
    assert len(httpserver.log) == 1  # one attempt per call: botocore's own retries are off
    assert b"Action=DescribeAutoScalingGroups" in httpserver.log[0][0].get_data()
