"""Stand-ins for per-person values, so a template can be rendered once for many people.

A `Slot` may be printed (`{{ first_name }}`), which writes its token, and tested for being
set (`{% if first_name %}`), which is true: slots only stand in for values that are set (the
caller fills in no empty value). Anything else a template does with one (compare it, measure
it, filter it, take an attribute) raises `PersonDependent`, because the output would then
depend on the value in a way a later fill-in could not reproduce. The caller renders such a
template once per person instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn


class PersonDependent(Exception):
    """The template uses a per-person value other than by printing it."""


class Slot:
    """A per-person value that a template may print and nothing more."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def token(self) -> str:
        """What printing the slot writes (the sandbox refuses attributes that start with _)."""
        return self._token

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PersonDependent("the template uses a per-person value other than by printing it")

    def __bool__(self) -> bool:
        return True  # stands in only for a value that is set (never an empty one)

    __len__ = __str__ = __repr__ = __format__ = __html__ = _refuse
    __iter__ = __contains__ = __getitem__ = __call__ = __hash__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __mod__ = __rmod__ = _refuse
    __int__ = __float__ = __index__ = __neg__ = __abs__ = __round__ = _refuse


def printed(value: Any) -> Any:
    """The value a template prints: a slot's token, anything else as it is."""
    return value.token if type(value) is Slot else value


def refuse_slots(test: Any) -> Callable[..., Any]:
    """Wrap a Jinja test so that applying it to a stand-in raises PersonDependent."""

    @functools.wraps(test)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if any(type(a) is Slot for a in (*args, *kwargs.values())):
            raise PersonDependent("the template tests a per-person value")
        return test(*args, **kwargs)

    return guarded
