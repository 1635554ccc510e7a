"""Shared helpers of the storage tests."""

from __future__ import annotations

import os
import random
import shutil
from typing import Any

from crdt import Doc
from crdt.storage import PersistentDoc
from crdt.storage.framing import scan
from crdt.storage.segment import HEADER_LEN

try:
    from tests.helpers import RandomPicker, edit_random
except ImportError:  # pragma: no cover
    from helpers import RandomPicker, edit_random  # type: ignore[no-redef]


def random_changes(pd: PersistentDoc, rng: random.Random, n: int) -> None:
    """``n`` random local changes, one transaction each, persisted as they are made."""
    pick = RandomPicker(rng)
    for _ in range(n):
        with pd.transaction(time=rng.randint(0, 10**12)) as _tx:
            edit_random(pd.doc, pick)


def state(doc: Doc) -> tuple[Any, list[bytes]]:
    return doc.to_py(), doc.heads


def last_segment(path: str) -> str:
    log = os.path.join(path, "log")
    names = sorted(n for n in os.listdir(log) if n.endswith(".log"))
    return os.path.join(log, names[-1])


def record_offsets(seg: str) -> list[tuple[int, int]]:
    """(start, end) of every record of a segment."""
    with open(seg, "rb") as f:
        data = f.read()
    frames, bad = scan(data, HEADER_LEN, len(data))
    assert bad is None
    return [(fr.offset, fr.end) for fr in frames]


def copy_store(src: str, dst: str) -> str:
    shutil.copytree(src, dst)
    return dst
