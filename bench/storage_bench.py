"""Storage benchmark: ``python -m bench.storage_bench [--quick]``.

Measures (targets in issue 3; method in docs/benchmarks.md):

1. append rate in fsync="batch" (small changes; target >= 50,000/s), "never" for reference;
2. fsync="always" commit rate vs the disk's raw write+fdatasync rate for records of the
   same sizes, in the same run;
3. log size of the automerge-paper trace, as one transaction and as one change per patch,
   against Automerge's saved size (~129 KB);
4. recovery scan speed (framing + xxh3 checksums) over a large generated log.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

from bench.traces import resolve_trace
from crdt import Doc, ObjType
from crdt.change import Change
from crdt.storage import Store
from crdt.storage.framing import REC_CHANGES, encode_record
from crdt.storage.fsutil import NO_FAILPOINTS
from crdt.storage.recovery import read_segment
from crdt.storage.segment import encode_header

TRACE = "automerge-paper"  # (found as ``python -m bench`` finds it: bench.traces)
AUTOMERGE_SAVE = 129_000


def _log_bytes(path: str) -> int:
    d = os.path.join(path, "log")
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def _trace_changes(txns: list[Any]) -> list[Change]:
    doc = Doc(actor="aa" * 16, clock=lambda: 0)
    with doc.transaction(time=0) as tx:
        obj = tx.make(None, "text", ObjType.TEXT)
    out = []
    for t in txns:
        tx = doc.begin(time=0)
        for pos, dl, ins in t["patches"]:
            tx.splice(obj, pos, dl, ins)
        c = tx.commit()
        if c is not None:
            out.append(c)
    return [*decode(doc.get_changes()[:1]), *out]


def _replayed_text(txns: list[Any]) -> str:
    """The text the patches of ``txns`` make, by plain string splicing (no CRDT): what a
    log of a prefix of the trace must reload to."""
    text = ""
    for t in txns:
        for pos, dl, ins in t["patches"]:
            text = text[:pos] + ins + text[pos + dl :]
    return text


def decode(raws: list[bytes]) -> list[Change]:
    from crdt.change import decode_change

    return [decode_change(r) for r in raws]  # type: ignore[misc]


def bench_append(changes: list[Change], base: str, mode: str, n: int) -> float:
    p = os.path.join(base, f"append-{mode}")
    st = Store.open(p, mode)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for c in changes[:n]:
        st.append([c])
    st.flush()
    dt = time.perf_counter() - t0
    st.close()
    shutil.rmtree(p)
    return n / dt


def bench_raw_fsync(sizes: list[int], base: str) -> float:
    p = os.path.join(base, "raw.bin")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    t0 = time.perf_counter()
    for s in sizes:
        os.write(fd, b"x" * s)
        os.fdatasync(fd)
    dt = time.perf_counter() - t0
    os.close(fd)
    os.unlink(p)
    return len(sizes) / dt


def bench_scan(base: str, mb: int) -> tuple[float, float]:
    p = os.path.join(base, "scan")
    os.makedirs(p)
    seg = os.path.join(p, "seg-0000000000000001.log")
    chunk = os.urandom(64 * 1024)
    rec = encode_record(REC_CHANGES, chunk)
    n = mb * 1024 * 1024 // len(rec)
    with open(seg, "wb") as f:
        f.write(encode_header(1, 0))
        block = rec * 64
        for _ in range(n // 64):
            f.write(block)
    size = os.path.getsize(seg)
    # warm read, then timed verify (page cache) -- the disk's read speed is not measured
    with open(seg, "rb") as f:
        while f.read(1 << 24):
            pass
    t0 = time.perf_counter()
    _data, frames, torn = read_segment(seg, True, NO_FAILPOINTS)
    dt = time.perf_counter() - t0
    assert torn is None and len(frames) == (n // 64) * 64
    shutil.rmtree(p)
    return size / dt / 1e6, size / 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the storage benchmark and print its figures; exit status 1 if a log does not
    reload to the text of the patches it holds."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    base = tempfile.mkdtemp(prefix="storage-bench-", dir=os.environ.get("BENCH_DIR"))
    res: dict[str, Any] = {}
    froze = False
    try:
        with gzip.open(resolve_trace(TRACE)) as f:
            trace = json.load(f)
        txns = trace["txns"][: 30000 if quick else None]
        expected = _replayed_text(txns) if quick else trace["endContent"]
        t0 = time.perf_counter()
        changes = _trace_changes(txns)
        res["trace_changes"] = len(changes)
        res["trace_build_s"] = round(time.perf_counter() - t0, 2)
        gc.collect()
        # the trace's objects are static: keep the collector off them (unless the process
        # froze objects of its own, which the unfreeze below would thaw)
        froze = gc.get_freeze_count() == 0
        if froze:
            gc.freeze()

        n = min(len(changes), 100_000)
        res["append_batch_per_s"] = round(bench_append(changes, base, "batch", n))
        res["append_never_per_s"] = round(bench_append(changes, base, "never", n))
        k = 200 if quick else 1000
        res["append_always_per_s"] = round(bench_append(changes, base, "always", k), 1)
        rec_sizes = [37] * k  # a one-change record of the trace is ~37 bytes
        res["raw_fdatasync_per_s"] = round(bench_raw_fsync(rec_sizes, base), 1)

        # sizes: one change per patch (group-committed), and one transaction
        p = os.path.join(base, "perpatch")
        with Store.open(p, "never") as st:
            for c in changes:
                st.append([c])
        res["per_patch_log_bytes"] = _log_bytes(p)
        t0 = time.perf_counter()
        with Store.open(p, "never") as st:
            doc = st.read_doc()
        res["per_patch_reload_s"] = round(time.perf_counter() - t0, 2)
        res["per_patch_reload_ok"] = doc.to_py()["text"] == expected
        shutil.rmtree(p)

        one = Doc(actor="bb" * 16, clock=lambda: 0)
        with one.transaction(time=0) as tx:
            obj = tx.make(None, "text", ObjType.TEXT)
            for t in txns:
                for pos, dl, ins in t["patches"]:
                    tx.splice(obj, pos, dl, ins)
        p = os.path.join(base, "onetxn")
        with Store.open(p, "never") as st:
            st.attach(one)
        res["one_txn_change_bytes"] = len(one.get_changes()[0])
        res["one_txn_log_bytes"] = _log_bytes(p)
        res["one_txn_reload_ok"] = Store.load(p).to_py() == {"text": expected}
        shutil.rmtree(p)
        res["automerge_save_bytes"] = AUTOMERGE_SAVE
        res["per_patch_x_automerge"] = round(res["per_patch_log_bytes"] / AUTOMERGE_SAVE, 2)
        res["one_txn_x_automerge"] = round(res["one_txn_log_bytes"] / AUTOMERGE_SAVE, 2)

        mbps, mb = bench_scan(base, 64 if quick else 512)
        res["scan_MB_per_s"] = round(mbps)
        res["scan_log_MB"] = round(mb)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if froze:
            gc.unfreeze()  # (a caller in the same process gets its collector back as it was)
    for k2, v in res.items():
        print(f"{k2:24} {v}")
    ok = res["per_patch_reload_ok"] and res["one_txn_reload_ok"]
    if not ok:
        print("a log did not reload to the trace's text: exit status 1", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
