"""The sizes of values a template builds: numbers, strings, lists, and the filters that grow them.

Sizes are checked *before* the operations that multiply them (see weight and checked).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.utils import Namespace

from nurture.rendering.budget import (
    MAX_INT_BITS,
    MAX_SIZE,
    TemplateLimitError,
    _tick,
    _too_big_number,
    _too_long,
)

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
