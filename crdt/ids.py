"""Identity: actors, op ids and their total order.

An op id is ``(counter, actor)``: the Lamport counter first, then the actor bytes, so
plain tuple comparison gives the order SPEC.md defines (and Automerge uses).  Actors are
kept as ``bytes`` everywhere inside the engine: comparing two 16-byte strings is as fast
as comparing ints, and the ordering is the bytewise one the spec asks for.
"""

from __future__ import annotations

import os
from typing import TypeAlias

from .errors import UsageError

ActorId: TypeAlias = bytes
"""1..64 opaque bytes naming a replica; 16 random bytes by default."""

OpId: TypeAlias = tuple[int, bytes]
"""``(counter, actor)``; ordered by counter, then actor bytes."""

ObjId: TypeAlias = "OpId | None"
"""The id of the make op that created an object; ``None`` is the root map."""

ROOT: None = None

MAX_ACTOR_LEN = 64


def new_actor() -> ActorId:
    """Return 16 random bytes from the OS CSPRNG."""
    return os.urandom(16)


def coerce_actor(actor: bytes | str | None) -> ActorId:
    """Accept an actor as bytes, a hex string or ``None`` (random).

    >>> coerce_actor("0a0b")
    b'\\n\\x0b'
    """
    if actor is None:
        return new_actor()
    if isinstance(actor, str):
        try:
            actor = bytes.fromhex(actor)
        except ValueError as exc:
            raise UsageError(f"actor is not a hex string: {actor!r}") from exc
    if not isinstance(actor, bytes | bytearray):
        raise UsageError(f"actor must be bytes or hex str, not {type(actor).__name__}")
    actor = bytes(actor)
    if not 1 <= len(actor) <= MAX_ACTOR_LEN:
        raise UsageError(f"actor must be 1..{MAX_ACTOR_LEN} bytes, got {len(actor)}")
    return actor


def format_opid(opid: OpId) -> str:
    """``counter@actorhex``, the form Automerge prints."""
    return f"{opid[0]}@{opid[1].hex()}"
