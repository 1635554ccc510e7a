"""Framing shared by the self-describing byte formats: a magic prefix, then msgpack."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import DecodeError

# The hot paths pack and unpack one small change at a time, so per-call overhead matters:
# ``msgpack.packb`` builds a new Packer for every call (~0.2-0.4 us of a 0.1-0.5 us job) and
# keyword arguments cost ~0.2 us per ``unpackb``.  One shared Packer is safe with the C
# extension, which runs a whole ``pack`` without releasing the GIL; msgpack's pure-Python
# fallback keeps state between calls, so with it every call gets its own Packer.
# ``pack``: ``msgpack.packb`` with the default options, faster.  ``pack_lists``: the same
# for values made of exact built-in types with arrays as lists only (what ``unpack``
# gives): ``strict_types`` skips the subclass tests, ~20% faster on a change.
if msgpack.Packer.__module__ == "msgpack._cmsgpack":
    pack = msgpack.Packer().pack
    pack_lists = msgpack.Packer(strict_types=True).pack
else:  # pragma: no cover - msgpack without its C extension
    pack = msgpack.packb

    def pack_lists(o: Any) -> bytes:
        return msgpack.packb(o, strict_types=True)  # type: ignore[no-any-return]


unpack = msgpack.unpackb
"""``msgpack.unpackb``; call it without options: msgpack >= 1.0's defaults (``raw=False``,
``use_list=True``, ``strict_map_key=True``) are the ones every format here needs.  One
caller asks for tuples (``use_list=False``): the fast path's changes of several text ops
(:func:`crdt.fastpath._text_ops`), whose grammar has checked every type, so no test there
asks for a list; made and freed, a tuple costs less (seph-blog1's one change, 28,531 ops:
14 ms against 19 ms to unpack and free)."""


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
