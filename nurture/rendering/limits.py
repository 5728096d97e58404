"""Bounds on what a staff template may compute, so that no template can freeze or exhaust a process.

Jinja's sandbox stops templates from reaching Python internals but not from asking for a number
with ten million digits, a gigabyte string or a billion loop turns. Here every value a template
builds is kept under a size (numbers under MAX_INT_BITS, strings and lists under MAX_SIZE
characters or items), sizes are checked *before* the operations that multiply them, each render
may take MAX_STEPS loop turns, calls and operations and RENDER_SECONDS of time, and each staff
template may write MAX_OUTPUT characters. A template that asks for more gets TemplateLimitError,
which says what it asked for; the traceback points at the template line (see template_line).
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Any

from jinja2 import Template, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from markupsafe import escape

MAX_SIZE = 256 * 1024  # characters in a string, items in a list, a template may build
MAX_OUTPUT = 256 * 1024  # characters one staff template may write
MAX_INT_BITS = 4096  # about 1,200 digits: far beyond any number an email shows
MAX_STEPS = 20_000  # loop turns, calls, filters and operators in one render
RENDER_SECONDS = 1.0  # of this thread's CPU time, so a busy machine cannot fail a good email
# A float printed with %f can have ~310 digits; a format estimate allows that per field.
_FIELD_SLACK = 330
# Methods that would build values outside these checks (bytes, translation tables) or that
# no email needs; refusing them is simpler than bounding them.
_REFUSED_METHODS = frozenset({"encode", "translate", "maketrans", "expandtabs", "to_bytes"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_PERCENT = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?"
    r"(?P<kind>.)",
    re.S,
)
_DIGITS = re.compile(r"\d+")


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


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """Roughly how many characters `value` becomes as text, counting each shared part each
    time it appears; stops counting once past `limit`."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1  # a little more than its decimal digits
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, Namespace):
            attrs = object.__getattribute__(item, "_Namespace__attrs")
            total += 1 + len(attrs)
            stack.extend(attrs.values())
        else:
            total += 1
        if total > limit:
            break
    return total


def checked(value: Any) -> Any:
    """Return `value` if it is within the sizes a template may build, else raise."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _too_big_number()
    size = weight(value)
    if size > MAX_SIZE:
        raise _too_long()
    return value


def _refuse_over(size: int) -> None:
    if size > MAX_SIZE:
        raise _too_long()


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # The result has at least (bits of base - 1) * exponent bits: refuse before computing.
        if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
            raise _too_big_number()


def _check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(seq, str | bytes | list | tuple) and times > 0:
            _refuse_over(weight(seq) * min(times, MAX_SIZE + 1))


def _field_estimate(values: Iterable[Any], fields: int, widths: Iterable[int]) -> int:
    largest = max((weight(v) for v in values), default=0)
    return fields * (largest + _FIELD_SLACK) + sum(widths)


def check_percent(fmt: str, args: Any) -> None:
    """Refuse `fmt % args` if it could produce more than a template may build."""
    fields, widths = 0, []
    for match in _PERCENT.finditer(fmt):
        if match["kind"] == "%":
            continue
        if "*" in (match["width"], match["precision"]):
            raise TemplateLimitError("the template formats with a '*' width, which is not allowed")
        fields += 1
        widths += [int(n) for n in (match["width"], match["precision"]) if n]
    if not fields:
        return
    if isinstance(args, dict):
        values: list[Any] = list(args.values())
    elif isinstance(args, tuple):
        values = list(args)
    else:
        values = [args]
    _refuse_over(len(fmt) + _field_estimate(values, fields, widths))


def check_brace_format(fmt: str, args: Iterable[Any]) -> None:
    """Refuse `fmt.format(...)` if it could produce more than a template may build."""
    fields, widths = 0, []
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is None:
            continue
        if spec and "{" in spec:
            raise TemplateLimitError("the template nests a field in a format spec")
        fields += 1
        widths += [int(n) for n in _DIGITS.findall(spec or "")]
    _refuse_over(len(fmt) + _field_estimate(args, fields, widths))


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not all(isinstance(s, str) for s in (text, old, new)):
        return
    times = text.count(old)
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _refuse_over(len(text) + times * max(0, len(new) - len(old)))


def _materialize(items: Iterable[Any]) -> list[Any]:
    if isinstance(items, str | list | tuple):
        return list(items)
    found = list(islice(items, MAX_SIZE + 1))
    _refuse_over(len(found))
    return found


def _check_join(items: list[Any], separator: Any) -> None:
    _refuse_over(sum(weight(i) for i in items) + len(str(separator)) * max(0, len(items) - 1))


# Checks run before a filter, given the filter's own arguments (without context/environment).
def _pre_center(value: Any, width: Any = 80) -> None:
    _refuse_over(max(weight(value), _int(width)))


def _pre_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
    text = str(value)
    step = len(width) if isinstance(width, str) else _int(width)
    _refuse_over(len(text) + (text.count("\n") + 1) * step)


def _pre_wordwrap(value: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
    text = str(value)
    wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 and args[1] else "\n")
    lines = min(len(text) + 1, len(text) // max(1, _int(width)) + text.count(" ") + 1)
    _refuse_over(len(text) + lines * len(str(wrap)))


def _pre_replace(value: Any, old: Any, new: Any, count: Any = None) -> None:
    _check_replace(str(value), old, new, count)


def _pre_format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent(str(value), kwargs or args)


def _pre_batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    _refuse_over(_int(linecount) * (1 if fill_with is None else max(1, weight(fill_with))))


def _pre_slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    _pre_batch(value, slices, fill_with)


def _pre_round(value: Any, precision: Any = 0, method: Any = "common") -> None:
    # Python computes 10**precision (or rounds an int with it) digit by digit.
    if abs(_int(precision)) > _FIELD_SLACK:
        raise TemplateLimitError(f"the template rounds to more than {_FIELD_SLACK} digits")


def _pre_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, int | float):
        raise TemplateLimitError("the template sums something other than numbers")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "format": _pre_format,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "sum": _pre_sum,
    "round": _pre_round,
}
# Filters that could write without bound from small inputs and that no email needs.
_REMOVED_FILTERS = ("urlize", "pprint")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so it counts as a step, is checked before it runs and its result after.

    The wrapper takes the context, which also stops Jinja from running it at compile time,
    where a loop would not count it each time round.
    """
    passes = getattr(func, "jinja_pass_arg", None)
    precheck = _FILTER_CHECKS.get(name)

    @pass_context
    @functools.wraps(func)
    def run(context: Context, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if name == "join":
            # Read the items once, so their joined size is known before joining them.
            args = (_materialize(args[0]), *args[1:])
            _check_join(args[0], args[1] if len(args) > 1 else kwargs.get("d", ""))
        elif precheck is not None:
            precheck(*args, **kwargs)
        if passes is not None:
            first = {
                "context": context,
                "eval_context": context.eval_ctx,
                "environment": context.environment,
            }[passes.name]
            args = (first, *args)
        return checked(func(*args, **kwargs))

    return run


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
