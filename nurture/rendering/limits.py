"""Bounds on what a staff template may compute, so that no template can freeze or exhaust a process.

Jinja's sandbox stops templates from reaching Python internals but not from asking for a number
with ten million digits, a gigabyte string or a billion loop turns. Here every value a template
builds is kept under a size (numbers under MAX_INT_BITS, strings and lists under MAX_SIZE
characters or items), sizes are checked *before* the operations that multiply them, each render
may take MAX_STEPS loop turns, calls and operations and RENDER_SECONDS of time, and each staff
template may write MAX_OUTPUT characters. A template that asks for more gets TemplateLimitError,
which says what it asked for; the traceback points at the template line (see template_line).

The budget of a render lives in budget.py, the sizes of values in sizes.py; this module puts
them into the sandbox every staff template runs in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.exceptions import TemplateSyntaxError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import escape

from nurture.rendering.budget import MAX_INT_BITS as MAX_INT_BITS
from nurture.rendering.budget import MAX_OUTPUT as MAX_OUTPUT
from nurture.rendering.budget import MAX_SIZE as MAX_SIZE
from nurture.rendering.budget import MAX_STEPS as MAX_STEPS
from nurture.rendering.budget import RENDER_SECONDS as RENDER_SECONDS
from nurture.rendering.budget import TemplateLimitError as TemplateLimitError
from nurture.rendering.budget import _emit, _tick
from nurture.rendering.budget import check_time as check_time
from nurture.rendering.budget import limits as limits
from nurture.rendering.budget import render as render
from nurture.rendering.budget import template_line as template_line
from nurture.rendering.sizes import (
    _REFUSED_METHODS,
    _REMOVED_FILTERS,
    _WIDTH_METHODS,
    _check_join,
    _check_power,
    _check_repeat,
    _check_replace,
    _guard_filter,
    _int,
    _materialize,
    _refuse_over,
    check_brace_format,
    check_percent,
    checked,
    weight,
)
from nurture.rendering.slots import printed, refuse_slots


@pass_context
def _limit_value(context: Context, value: Any) -> Any:
    _tick()
    return checked(value)


@pass_context
def _limit_concat(context: Context, parts: list[Any]) -> Any:
    _tick()
    _refuse_over(sum(weight(p) for p in parts))
    join = markup_join if context.eval_ctx.autoescape else str_join
    return checked(join(parts))


@pass_context
def _limit_loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


@pass_context
def _limit_write(context: Context, value: Any) -> Any:
    _tick()
    value = printed(value)  # a per-person stand-in prints its token (rendering/slots.py)
    _refuse_over(weight(value))
    if context.eval_ctx.autoescape:
        value = escape(value)
    text = value if isinstance(value, str) else str(value)
    _emit(len(text))
    return text


@pass_context
def _limit_literal(context: Context, size: int) -> str:
    _tick()
    _emit(size)
    return ""


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Guards(NodeTransformer):
    """Route loops, literals, concatenation and output of a parsed template through checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_limit_loop")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "_limit_concat")

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, "_limit_value")

    visit_List = visit_Dict = _literal

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load":
            return node  # an assignment target, not a value
        return self._literal(node)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        literal = 0
        children: list[nodes.Expr] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                literal += len(child.data)
                children.append(child)
            else:
                children.append(_filter(child, "_limit_write"))
        if literal:
            size = nodes.Const(literal, lineno=node.lineno)
            children.insert(0, _filter(size, "_limit_literal"))
        node.nodes = children
        return node


class _GuardedFilters(dict[str, Callable[..., Any]]):
    """Filters, each wrapped in the checks, including any added after the environment is made."""

    def __setitem__(self, name: str, func: Callable[..., Any]) -> None:
        super().__setitem__(name, _guard_filter(name, func))

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add filters, each wrapped in the checks."""
        for name, func in dict(*args, **kwargs).items():
            self[name] = func


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with bounds on numbers, sizes, steps, time and output."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals.pop("lipsum", None)  # writes any amount of text, in a Python loop
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        guarded = _GuardedFilters()
        guarded.update(self.filters)
        self.filters = guarded
        # `is string`, `is callable`, `is escaped` would tell a stand-in from the value it
        # stands in for: a test of a per-person stand-in is refused (rendering/slots.py).
        self.tests = {name: refuse_slots(test) for name, test in self.tests.items()}
        # The checks themselves go in as they are (dict's own update skips the wrapping).
        dict.update(
            self.filters,
            _limit_value=_limit_value,
            _limit_concat=_limit_concat,
            _limit_loop=_limit_loop,
            _limit_write=_limit_write,
            _limit_literal=_limit_literal,
        )

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        try:
            tree = super()._parse(source, name, filename)
        except ValueError as exc:  # Python refuses to read an integer literal that long
            line = next(
                (i for i, row in enumerate(source.splitlines(), 1) if re.search(r"\d{4000}", row)),
                None,
            )
            raise TemplateSyntaxError(
                "the template holds a number too long to read", line or 1, name, filename
            ) from exc
        guarded = _Guards().visit(tree)
        assert isinstance(guarded, nodes.Template)
        return guarded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply an arithmetic operator after checking the size of what it would build."""
        _tick()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "%" and isinstance(left, str):
            check_percent(left, right)
        return checked(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox str.format as Jinja does, refusing formats that would build too much."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _tick()
            values = list(args[0].values()) if is_map and args else [*args, *kwargs.values()]
            check_brace_format(fmt, values)
            return str(checked(wrapper(*args, **kwargs)))

        return bounded

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call from a template, checking what the call could build before and after."""
        _tick()
        owner = getattr(obj, "__self__", None)
        method = getattr(obj, "__name__", "")
        if isinstance(owner, str | bytes | int | float):
            if method in _REFUSED_METHODS:
                raise TemplateLimitError(f"the template calls {method}(), which is not allowed")
            if isinstance(owner, str) and args:
                if method in _WIDTH_METHODS:
                    _refuse_over(_int(args[0]))
                elif method == "replace":
                    _check_replace(owner, *args[:3])
                elif method == "join":
                    args = (_materialize(args[0]), *args[1:])
                    _check_join(args[0], owner)
        return checked(super().call(context, obj, *args, **kwargs))
