"""Framing shared by the self-describing byte formats: a magic prefix, then msgpack."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import DecodeError


def unpack_framed(data: Any, magic: bytes, what: str) -> Any:
    """Check ``magic`` and decode the msgpack body; :class:`DecodeError` otherwise."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"{what} must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(magic):
        raise DecodeError(f"not a {what} (bad magic)")
    try:
        return msgpack.unpackb(data[len(magic) :], raw=False, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise DecodeError(f"{what} is not msgpack ({type(exc).__name__})") from exc
