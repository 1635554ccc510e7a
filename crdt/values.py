"""Scalar values and object types.

Scalars are plain Python values (``None``, ``bool``, ``int`` in the signed 64-bit range,
``float``, ``str``, ``bytes``) plus :class:`Counter`.  ``bool`` is checked before ``int``
everywhere because ``True == 1`` in Python but they are different CRDT values.
"""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

from .errors import UsageError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ObjType(enum.IntEnum):
    """The kinds of object a make op creates (the integer is the wire code)."""

    MAP = 0
    LIST = 1
    TEXT = 2


class Counter:
    """A 64-bit integer that concurrent increments add up on (a PN-counter register value).

    >>> Counter(3) == Counter(3), int(Counter(5))
    (True, 5)
    """

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
            raise UsageError(f"counter value must be a 64-bit int, got {value!r}")
        self.value = value  # current total: initial value plus every applied increment

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counter) and other.value == self.value

    def __hash__(self) -> int:
        return hash(("Counter", self.value))

    def __repr__(self) -> str:
        return f"Counter({self.value})"


Scalar: TypeAlias = "bool | int | float | str | bytes | Counter | None"
"""A value stored directly in a map key or list element."""


def check_str(s: str, what: str = "a string") -> None:
    """Raise :class:`UsageError` if ``s`` cannot be written as UTF-8 (SPEC.md 3.2: every
    string of a change is UTF-8): a lone surrogate, as JSON's ``"\\ud800"`` decodes to.
    Taken, it failed only when the commit was sealed (``UnicodeEncodeError``), and every
    later read of the history failed with it.  O(n), in C: an ASCII test, and for any
    other string one encoding."""
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(
                f"{what} with a lone surrogate (U+{ord(s[exc.start]):04X} at {exc.start}) "
                "cannot be stored: strings are UTF-8"
            ) from None


def text_ok(s: str) -> bool:
    """True, or :func:`check_str`'s error for text (a test in a fast path's condition)."""
    check_str(s, "text")
    return True


def check_scalar(value: Any) -> Scalar:
    """Return ``value`` if it is a storable scalar, else raise :class:`UsageError`."""
    t = type(value)
    if t is str:
        if not value.isascii():  # (a call less for the common case: a list insert's values)
            check_str(value)
        return value  # type: ignore[no-any-return]
    if value is None or t is bool or t is float or t is bytes:
        return value  # type: ignore[no-any-return]
    if t is Counter:
        return Counter(value.value)  # (a copy: the caller's object stays the caller's)
    if t is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise UsageError(f"int out of the signed 64-bit range: {value}")
        return value  # type: ignore[no-any-return]
    raise UsageError(f"not a CRDT scalar: {t.__name__}")


def wrap_int64(v: int) -> int:
    """Two's complement wrap-around into the signed 64-bit range (counter arithmetic)."""
    return ((v - INT64_MIN) % 2**64) + INT64_MIN


def same_value(a: Any, b: Any) -> bool:
    """Equal in type and value (``1``, ``1.0`` and ``True`` are three different values)."""
    return type(a) is type(b) and a == b
