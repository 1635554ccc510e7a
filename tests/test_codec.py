"""crdt.codec shares one msgpack Packer across calls: a failed pack must leave nothing
behind for the next one."""

from __future__ import annotations

import msgpack
import pytest

from crdt.codec import pack, unpack


@pytest.mark.parametrize("bad", [[1, 2, object()], [1, 2**70], {"k": [b"x", {1.5j}]}])
def test_failed_pack_leaves_the_shared_packer_clean(bad: object) -> None:
    with pytest.raises((TypeError, OverflowError)):
        pack(bad)
    good = [1, "two", b"\x03", [4.5, None]]
    assert pack(good) == msgpack.packb(good)
    assert unpack(pack(good)) == good


def test_pack_writes_tuples_as_arrays() -> None:
    """encode_change relies on it: a tuple and a list give the same canonical bytes."""
    assert pack((1, (b"a", [2]), "x")) == msgpack.packb([1, [b"a", [2]], "x"])
