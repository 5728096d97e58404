"""The budget of one render: loop turns, calls and operations, time, and characters written.

A template that asks for more gets TemplateLimitError; template_line finds the line it asked on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError

MAX_SIZE = 256 * 1024  # characters in a string, items in a list, a template may build
MAX_OUTPUT = 256 * 1024  # characters one staff template may write
MAX_INT_BITS = 4096  # about 1,200 digits: far beyond any number an email shows
MAX_STEPS = 20_000  # loop turns, calls, filters and operators in one render
RENDER_SECONDS = 1.0  # of this thread's CPU time, so a busy machine cannot fail a good email


class TemplateLimitError(SecurityError):
    """A template asked for more work, memory or output than an email may take."""


def _too_big_number() -> TemplateLimitError:
    return TemplateLimitError(
        f"the template computes a number too large (more than {MAX_INT_BITS} bits)"
    )


def _too_long() -> TemplateLimitError:
    return TemplateLimitError(
        f"the template builds a text or list longer than {MAX_SIZE:,} characters or items"
    )


@dataclass(slots=True)
class _Budget:
    deadline: float
    seconds: float
    steps: int
    chars: int | None  # what the template being rendered may still write; None: no limit


_BUDGET: ContextVar[_Budget | None] = ContextVar("nurture_template_budget", default=None)


@contextmanager
def limits(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Share one deadline and one step budget among the renders inside this block.

    A block inside another uses the outer one's budget, so checking a step for several sample
    leads, or rendering an email's parts and layout, is bounded as a whole.
    """
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget(time.thread_time() + seconds, seconds, MAX_STEPS, None))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def render(template: Template, context: dict[str, Any], *, max_chars: int | None) -> str:
    """Render `template` within the current limits, letting it write at most `max_chars`."""
    with limits():
        budget = _BUDGET.get()
        assert budget is not None
        outer, budget.chars = budget.chars, max_chars
        try:
            return template.render(context)
        finally:
            budget.chars = outer


def template_line(exc: BaseException) -> int | None:
    """Return the template line an error was raised at (Jinja rewrites the traceback)."""
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return  # compile-time folding of constants: sizes are still checked
    budget.steps -= 1
    if budget.steps < 0:
        raise TemplateLimitError(
            f"the template loops, calls or computes more than {MAX_STEPS:,} times"
        )
    if time.thread_time() > budget.deadline:
        raise TemplateLimitError(
            f"the template takes more than {budget.seconds:g} s of CPU time to render"
        )


def check_time() -> None:
    """Raise TemplateLimitError if the current render budget's CPU time is spent."""
    budget = _BUDGET.get()
    if budget is not None and time.thread_time() > budget.deadline:
        raise TemplateLimitError(
            f"the template takes more than {budget.seconds:g} s of CPU time to render"
        )


def _emit(size: int) -> None:
    budget = _BUDGET.get()
    if budget is None or budget.chars is None:
        return
    budget.chars -= size
    if budget.chars < 0:
        raise TemplateLimitError(f"the template writes more than {MAX_OUTPUT // 1024} KiB")
