"""A work budget for one template render: loops and calls are counted, so no template can hang a render.

Takes nothing; provides :class:`BudgetedSandbox` (Jinja2's immutable sandbox, counting) and
:func:`budget` (a context manager that gives the renders inside it ``MAX_STEPS`` steps). A step is
one call (a function, macro, filter or method called from the template) or one item of a ``range``;
the ranges a template asks for are charged in full when asked for, so nested ``range(100000)`` loops
fail at the first inner loop instead of running 10^10 iterations. No value may grow past
``MAX_OUTPUT`` characters or items: ``*``, ``+``, ``~`` and every filter's result are checked, a
number passed to a call or filter is at most ``MAX_OUTPUT`` (``"a".ljust(10**9)``), and a power's
exponent at most 256; so a render holds at most a few times ``MAX_OUTPUT`` per step. Exceeding the
budget raises :class:`TemplateBudgetExceeded` (a Jinja ``SecurityError``), which renders report as
an ordinary template error: ``rules validate`` rejects such a template at once, and at run time the
message falls back like any render failure. Loops over event data are bounded by the event's size.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_STEPS = 100_000  # a shipped template takes under 100
MAX_OUTPUT = 40_000
MAX_EXPONENT = 256

_left: ContextVar[list[int] | None] = ContextVar("template_budget", default=None)


class TemplateBudgetExceeded(SecurityError):
    pass


def _charge(steps: int) -> None:
    left = _left.get()
    if left is None:  # outside budget(): each charge stands alone (still bounded per range/call)
        if steps > MAX_STEPS:
            raise TemplateBudgetExceeded(f"template asked for {steps} loop items (budget {MAX_STEPS})")
        return
    left[0] -= steps
    if left[0] < 0:
        raise TemplateBudgetExceeded(f"template exceeded its budget of {MAX_STEPS} loop items and calls")


@contextlib.contextmanager
def budget(steps: int = MAX_STEPS) -> Iterator[None]:
    token = _left.set([steps])
    try:
        yield
    finally:
        _left.reset(token)


def budgeted_range(*args: int) -> range:
    items = range(*args)
    _charge(len(items))
    return items


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _checked(value: Any, what: str) -> Any:
    if _length(value) > MAX_OUTPUT:
        raise TemplateBudgetExceeded(f"{what} built {_length(value)} characters or items (at most {MAX_OUTPUT})")
    return value


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The arguments after the first (a filter's value) may not be numbers over ``MAX_OUTPUT``."""
    for arg in (*args[1:], *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise TemplateBudgetExceeded(f"number {arg} passed to a call is over {MAX_OUTPUT}")


def _budgeted_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps jinja's pass_context/pass_environment marks
    def run(*args: Any, **kwargs: Any) -> Any:
        _charge(1)
        _check_args(args, kwargs)
        return _checked(fn(*args, **kwargs), f"filter {name!r}")
    return run


class _Generator(CodeGenerator):
    """Jinja's code generator with ``~`` (Concat) routed through the size check."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.checked_join(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})
    code_generator_class = _Generator

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = budgeted_range
        self.filters = {name: _budgeted_filter(name, fn) for name, fn in self.filters.items()}

    def add_filter(self, name: str, fn: Callable[..., Any]) -> None:
        self.filters[name] = _budgeted_filter(name, fn)

    @staticmethod
    def checked_join(context: Any, parts: tuple[Any, ...]) -> Any:
        joined = markup_join(parts) if context.eval_ctx.autoescape else str_join(parts)
        return _checked(joined, "'~'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's
        _charge(1)
        _check_args((None, *args), kwargs)
        return _checked(super().call(__context, __obj, *args, **kwargs), "a call")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise TemplateBudgetExceeded(f"exponent {right} is over {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _length(seq) and isinstance(times, int) and _length(seq) * times > MAX_OUTPUT:
                    raise TemplateBudgetExceeded(f"'*' would build {_length(seq) * times} items (at most "
                                                 f"{MAX_OUTPUT})")
        return _checked(super().call_binop(context, operator, left, right), f"'{operator}'")
