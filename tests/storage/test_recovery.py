"""The recovery rule: torn tails are cut to a .broken file, anything else is refused."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from crdt.storage import CorruptStoreError, Store

from .util import copy_store, last_segment, random_changes, record_offsets, state


def _build(
    path: str, seed: int, n: int, epoch_at: int | None = None
) -> list[tuple[object, list[bytes]]]:
    """A store of ``n`` one-change records; returns the state after each record."""
    rng = random.Random(seed)
    states = []
    with Store.open(path, "always") as st:
        pd = st.open_doc(actor="ab" * 8)
        for i in range(n):
            if epoch_at is not None and i == epoch_at:
                st.create_epoch(pd)
            random_changes(pd, rng, 1)
            states.append(state(pd.doc))
    return states


def test_truncate_every_offset_of_last_records(tmp_path: Path) -> None:
    src = str(tmp_path / "src")
    states = _build(src, 1, 30)
    seg = last_segment(src)
    offs = record_offsets(seg)
    with open(seg, "rb") as f:
        data = f.read()
    assert len(offs) == 30
    first = offs[-4][0]
    for cut in range(first, len(data) + 1):
        whole = sum(1 for _s, e in offs if e <= cut)
        dst = copy_store(src, str(tmp_path / f"c{cut}"))
        dseg = last_segment(dst)
        os.truncate(dseg, cut)
        with Store.open(dst, "always") as st:
            doc = st.read_doc()
            assert state(doc) == states[whole - 1], cut
        boundary = offs[whole - 1][1]
        broken = dseg + ".broken"
        if cut == boundary:
            assert not os.path.exists(broken)
        else:
            with open(broken, "rb") as f:
                assert f.read() == data[boundary:cut]
        assert os.path.getsize(dseg) == boundary
        # and it keeps working after recovery
        with Store.open(dst, "always") as st:
            pd = st.open_doc()
            random_changes(pd, random.Random(cut), 1)
            after = state(pd.doc)
        assert state(Store.load(dst)) == after
        import shutil

        shutil.rmtree(dst)


def test_bit_flips_never_give_a_wrong_state(tmp_path: Path) -> None:
    src = str(tmp_path / "src")
    states = _build(src, 2, 24, epoch_at=12)
    seg = last_segment(src)
    last_rec = record_offsets(seg)[-1][0]
    files = []
    for root, _dirs, names in os.walk(src):
        for n in names:
            if n != "LOCK":
                files.append(os.path.join(root, n))
    rng = random.Random(99)
    outcomes = {"ok": 0, "torn": 0, "corrupt": 0}
    for it in range(250):
        dst = str(tmp_path / f"f{it}")
        copy_store(src, dst)
        f = rng.choice(files)
        rel = os.path.relpath(f, src)
        g = os.path.join(dst, rel)
        size = os.path.getsize(g)
        pos = rng.randrange(size)
        with open(g, "r+b") as fh:
            fh.seek(pos)
            b = fh.read(1)[0]
            fh.seek(pos)
            fh.write(bytes([b ^ (1 << rng.randrange(8))]))
        try:
            with Store.open(dst, "never") as st:
                got = state(st.read_doc())
        except CorruptStoreError:
            outcomes["corrupt"] += 1
            continue
        if g == os.path.join(dst, os.path.relpath(seg, src)) and pos >= last_rec:
            assert got == states[-2], (rel, pos)  # the torn-write rule dropped the last record
            outcomes["torn"] += 1
        else:
            assert got == states[-1], (rel, pos)
            outcomes["ok"] += 1
    assert outcomes["corrupt"] and outcomes["ok"]


def test_bad_record_followed_by_valid_is_corruption_and_salvage(tmp_path: Path) -> None:
    src = str(tmp_path / "s")
    states = _build(src, 3, 20)
    seg = last_segment(src)
    offs = record_offsets(seg)
    bad_start, bad_end = offs[15]
    with open(seg, "r+b") as fh:
        fh.seek(bad_start + 7)
        b = fh.read(1)[0]
        fh.seek(bad_start + 7)
        fh.write(bytes([b ^ 0xFF]))
    size = os.path.getsize(seg)
    with pytest.raises(CorruptStoreError) as ei:
        Store.open(src, "always")
    assert ei.value.file == seg and ei.value.offset == bad_start
    assert os.path.getsize(seg) == size  # nothing changed
    rep = Store.salvage(src)
    assert [(d.offset, d.length) for d in rep.dropped] == [(bad_start, bad_end - bad_start)]
    assert rep.backups and os.path.exists(rep.backups[0])
    doc = Store.load(src)
    # record 15 is gone; later changes depended on it (one actor, a chain) so they cannot apply
    assert state(doc) == states[14]
    assert rep.undecodable_changes == 0 or doc.pending == 0


def test_sealed_segment_damage_is_corruption(tmp_path: Path) -> None:
    src = str(tmp_path / "s")
    with Store.open(src, "always", max_segment_bytes=200) as st:
        pd = st.open_doc(actor="cd")
        random_changes(pd, random.Random(4), 12)
    segs = sorted(os.listdir(os.path.join(src, "log")))
    assert len(segs) > 2
    first = os.path.join(src, "log", segs[0])
    os.truncate(first, os.path.getsize(first) - 1)
    with pytest.raises(CorruptStoreError) as ei:
        Store.open(src, "always")
    assert ei.value.file == first


def test_garbage_tail_of_zeros_is_torn(tmp_path: Path) -> None:
    src = str(tmp_path / "s")
    states = _build(src, 5, 5)
    seg = last_segment(src)
    with open(seg, "ab") as fh:
        fh.write(b"\x00" * 4096)
    with Store.open(src, "always") as st:
        assert state(st.read_doc()) == states[-1]
        assert st.torn and st.torn[0].length == 4096
