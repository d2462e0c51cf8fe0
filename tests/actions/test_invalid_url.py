"""A malformed webhook URL (a secret) is a clear, permanent action failure that does not quote it."""

from __future__ import annotations

import pytest
from adapter_kit import make_intent

from actions.base import ActionFailed
from actions.slack import Slack
from actions.teams import Teams

SECRET = "443SECRETTOKEN"


@pytest.mark.parametrize(("adapter", "env"), [
    (Slack, {"SLACK_WEBHOOK_URL": f"https://hooks.slack.com:{SECRET}/services/T0/B0/XX"}),
    (Teams, {"TEAMS_WEBHOOK_URL": f"http://[::1/{SECRET}"}),
])
def test_invalid_webhook_url_is_a_permanent_failure_without_the_secret(adapter, env) -> None:
    action = adapter({}, env)
    request = action.render(make_intent(action=adapter.name, kind="notify", message={"text": "x"}))
    with pytest.raises(ActionFailed) as caught:  # before: httpx.InvalidURL escaped, quoting the URL's port
        action.send(request)
    assert not caught.value.retryable and caught.value.reason == "clientError"
    assert "not a valid http(s) URL" in str(caught.value)
    assert SECRET not in str(caught.value)
