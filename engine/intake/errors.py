"""The one exception the intake layer raises: :class:`IntakeError` (a stable ``code`` and a
one-line, human-readable ``reason``).

Codes (kebab-case, stable; tests and the CLI match on them, never on the wording):

=================================  ==========================================================
``too-large``                      the body is bigger than ``max_bytes`` (checked before decoding)
``not-utf8``                       the body is not valid UTF-8 (a leading BOM is tolerated)
``empty``                          the body is empty or only whitespace
``invalid-json``                   the body is not JSON (line and column in the reason)
``non-finite-number``              NaN, Infinity or a number that overflows a float
``too-deep``                       arrays/objects nested deeper than 64 levels
``unknown-format``                 valid JSON, but no known webhook or canonical shape
``schema``                         the shape is known but a field is wrong (JSON pointer + message)
``unrendered-template``            a webhook *template* (``$VARIABLES`` not expanded), not a delivery
``sns-subscription-confirmation``  an SNS subscription handshake; confirm the SubscribeURL by hand
``ignored-webhook``                a known webhook that carries no event (e.g. PagerDuty triggered)
``truncated-alerts``               Alertmanager's ``max_alerts`` left alerts out of a group (a notice)
=================================  ==========================================================
"""

from __future__ import annotations

CODES = (
    "too-large",
    "not-utf8",
    "empty",
    "invalid-json",
    "non-finite-number",
    "too-deep",
    "unknown-format",
    "schema",
    "unrendered-template",
    "sns-subscription-confirmation",
    "ignored-webhook",
    "truncated-alerts",
)


class IntakeError(Exception):
    """A payload that cannot become events. ``str(err)`` is ``"<name>: <reason>"`` when a name is known."""

    def __init__(self, reason: str, code: str = "schema", *, name: str = "") -> None:
        if code not in CODES:
            raise ValueError(f"unknown IntakeError code {code!r}")
        # One line, always: reasons quote user input, which may contain newlines.
        self.reason = " ".join(reason.split())
        self.code = code
        self.name = name
        super().__init__(f"{name}: {self.reason}" if name else self.reason)

    def with_name(self, name: str) -> IntakeError:
        """The same error, attributed to a file or request name."""
        err = IntakeError(self.reason, self.code, name=name)
        err.__cause__ = self.__cause__
        return err
