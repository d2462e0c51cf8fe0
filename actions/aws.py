"""AWS plumbing shared by ``scale-out`` and ``failover``: boto3 clients built from the adapter's
``env`` (never a rule file), and botocore errors classified into :class:`ActionFailed`.

Credentials: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), or
``AWS_PROFILE``, or a web-identity / container role (``AWS_WEB_IDENTITY_TOKEN_FILE``,
``AWS_CONTAINER_CREDENTIALS_*_URI``), or the instance role when the config says
``instance_role: true``. Region: config ``region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``.
``AWS_ENDPOINT_URL`` overrides the endpoint (LocalStack, VPC endpoints).

Clients make one attempt per call (botocore's own retries are off) so that
:func:`actions.retry.execute` is the only retry loop.

boto3 and botocore are imported on first use (a client, a classification, ``AWSError``): they
take longer to import than the rest of ``rules validate`` and ``rules simulate`` together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionFailed


def __getattr__(name: str) -> Any:
    if name == "AWSError":  # what adapters catch around boto3 calls (evaluated only when something raised)
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

ENV_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
)
ROLE_VARS = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
# Error codes botocore itself treats as throttling (botocore/retries/standard.py), plus busy states.
THROTTLED = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "ProvisionedThroughputExceededException",
}
BUSY = {
    "ScalingActivityInProgress", "ScalingActivityInProgressFault",
    "ResourceContention", "ResourceContentionFault",
}
NO_CREDENTIALS = {
    "NoCredentialsError", "PartialCredentialsError", "ProfileNotFound", "CredentialRetrievalError",
}
UNREACHABLE = {"EndpointConnectionError", "ConnectionClosedError", "ProxyConnectionError"}
AUTH = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
    "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
    "AuthFailure", "InvalidAccessKeyId", "MissingAuthenticationToken",
}


def region(config: Mapping[str, Any], env: Mapping[str, str], default: str | None = None) -> str | None:
    return config.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or default


def problem(env: Mapping[str, str], region_name: str | None, instance_role: bool) -> str | None:
    """``None`` when a region and some credential source are set, else the missing variable."""
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and not secret:
        return "AWS_SECRET_ACCESS_KEY is not set"
    if secret and not key:
        return "AWS_ACCESS_KEY_ID is not set"
    if not region_name:
        return "AWS_REGION is not set (nor AWS_DEFAULT_REGION or config 'region')"
    if key or env.get("AWS_PROFILE") or instance_role or any(env.get(v) for v in ROLE_VARS):
        return None
    return "AWS_ACCESS_KEY_ID is not set (nor AWS_PROFILE; or set 'instance_role: true' in the config)"


def client(service: str, env: Mapping[str, str], region_name: str, timeout: float) -> Any:
    """A boto3 client for ``service`` with credentials and endpoint from ``env``."""
    import boto3
    from botocore.config import Config

    key = env.get("AWS_ACCESS_KEY_ID") or None
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        profile_name=None if key else env.get("AWS_PROFILE") or None,
        region_name=region_name,
    )
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
    )
    return session.client(service, endpoint_url=env.get("AWS_ENDPOINT_URL") or None, config=config)


def classify(exc: Exception, what: str) -> ActionFailed:
    """Map a botocore error to :class:`ActionFailed` (throttling and 5xx retryable, auth not)."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{what}: {code}: {str(error.get('Message', ''))[:300]}"
        if code in THROTTLED or status == 429:
            return ActionFailed(message, retryable=True, reason="rateLimited", status=status)
        if code in BUSY:
            return ActionFailed(message, retryable=True, reason="other", status=status)
        if code in AUTH or status in (401, 403):
            return ActionFailed(message, retryable=False, reason="authError", status=status)
        if status is not None and status >= 500:
            return ActionFailed(message, retryable=True, reason="serverError", status=status)
        return ActionFailed(message, retryable=False, reason="clientError", status=status)
    message = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return ActionFailed(message, retryable=True, reason="timeout")
    if type(exc).__name__ in NO_CREDENTIALS:
        return ActionFailed(message, retryable=False, reason="authError")
    if type(exc).__name__ in UNREACHABLE:
        return ActionFailed(message, retryable=True, reason="connectError")
    return ActionFailed(message, retryable=False, reason="other")  # e.g. a bad parameter caught client-side
