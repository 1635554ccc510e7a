"""Editing traces: finding, loading, and the replay drivers every Python engine shares.

Trace formats (https://github.com/josephg/editing-traces):

* sequential: ``{startContent, endContent, txns: [{patches: [[pos, del, ins], ...]}]}``
  with positions in Unicode code points;
* concurrent: ``{kind: "concurrent", endContent, numAgents, txns: [{parents, numChildren,
  agent, patches}]}`` -- each txn starts from the merge of its parents' resulting states,
  the final document is the merge of every leaf.

The drivers below mirror ``bench/js/run_trace.mjs`` step for step, so every engine (Python
or Node) does the same work and is timed at the same points.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

Patch = list[Any]  # [pos, del, ins]
Trace = dict[str, Any]

# Traces the quick (CI smoke) run leaves out: the two longest sequential ones.
BIG_TRACES = ("automerge-paper", "seph-blog1")


def traces_dir() -> Path:
    """``$CRDT_TRACES`` if set, else ``<repo>/../shared/traces``."""
    env = os.environ.get("CRDT_TRACES")
    return Path(env) if env else REPO.parent / "shared" / "traces"


def trace_name(path: Path) -> str:
    """Short name, the same as the Node runner prints (``ascii_only/`` kept as a prefix)."""
    base = path.name
    for suffix in (".json.gz", ".json"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return f"ascii_only/{base}" if path.parent.name == "ascii_only" else base


def find_traces(root: Path | None = None, *, ascii_only: bool = False) -> list[Path]:
    """Every sequential trace (optionally the ascii_only copies too), then the concurrent ones."""
    root = root or traces_dir()
    out = sorted((root / "sequential").glob("*.json.gz"))
    if ascii_only:
        out += sorted((root / "sequential" / "ascii_only").glob("*.json.gz"))
    out += sorted((root / "concurrent").glob("*.json.gz"))
    return out


def resolve_trace(spec: str, root: Path | None = None) -> Path:
    """A trace given as a path, or by name (``automerge-paper``, ``ascii_only/rustcode``,
    ``concurrent/clownschool`` or just ``clownschool`` for the concurrent one)."""
    p = Path(spec)
    if p.suffix in (".gz", ".json") and p.exists():
        return p
    root = root or traces_dir()
    candidates = [
        root / "sequential" / f"{spec}.json.gz",
        root / f"{spec}.json.gz",
        root / "concurrent" / f"{spec}.json.gz",
    ]
    for c in candidates:
        if c.exists():
            return c
    raise FileNotFoundError(f"no trace {spec!r} under {root}")


def load_trace(path: Path | str) -> Trace:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data: Trace = json.load(f)
    return data


def is_concurrent(trace: Trace) -> bool:
    txns = trace.get("txns") or [{}]
    return trace.get("kind") == "concurrent" or "parents" in txns[0]


def n_patches(trace: Trace) -> int:
    return sum(len(t["patches"]) for t in trace["txns"])


def modes_for(trace: Trace) -> list[str]:
    return ["concurrent"] if is_concurrent(trace) else ["one", "per-patch"]


def all_patches(txns: list[dict[str, Any]]) -> Iterator[Patch]:
    for t in txns:
        yield from t["patches"]


def plain_replay(trace: Trace) -> str:
    """Apply a sequential trace to a Python str (slow, for checking the traces only)."""
    s: str = trace.get("startContent") or ""
    for pos, dl, ins in all_patches(trace["txns"]):
        s = s[:pos] + ins + s[pos + dl :]
    return s


def to_utf8_patches(trace: Trace) -> list[dict[str, Any]]:
    """The txns with code-point positions converted to UTF-8 byte offsets (for Yrs/pycrdt).

    Untimed setup.  Keeps only the (few) non-ASCII characters' positions, so it is
    O(patches x non-ASCII chars) instead of a full string replay.
    """
    wide: list[list[int]] = []  # [code point position, extra bytes], sorted by position

    def add_wide(base: int, s: str) -> list[list[int]]:
        return [[base + i, len(c.encode()) - 1] for i, c in enumerate(s) if ord(c) > 127]

    wide = add_wide(0, trace.get("startContent") or "")
    out = []
    for t in trace["txns"]:
        new_patches = []
        for pos, dl, ins in t["patches"]:
            bpos = pos + sum(x for p, x in wide if p < pos)
            bdel = dl + sum(x for p, x in wide if pos <= p < pos + dl)
            shift = len(ins) - dl
            kept = [w for w in wide if w[0] < pos]
            later = [[p + shift, x] for p, x in wide if p >= pos + dl]
            wide = kept + add_wide(pos, ins) + later
            new_patches.append([bpos, bdel, ins])
        out.append({**t, "patches": new_patches})
    return out


# --------------------------------------------------------------------------- drivers


def b1_sequential(E: Any, trace: Trace, txns: list[dict[str, Any]], mode: str) -> tuple[Any, float]:
    """B1 for a sequential trace: returns (doc, ms).  Only the edits are timed."""
    doc = E.create(0)
    start = trace.get("startContent")
    if start:
        doc = E.edit(doc, [[0, 0, start]])  # untimed setup
    if mode == "one":
        patches = list(all_patches(txns))
        t0 = time.perf_counter()
        doc = E.edit(doc, patches)
    elif mode == "per-patch":
        t0 = time.perf_counter()
        for t in txns:
            doc = E.edit(doc, t["patches"])
    else:
        raise ValueError(f"mode {mode!r} does not fit a sequential trace")
    E.settle(doc)
    ms = (time.perf_counter() - t0) * 1000
    return doc, ms


def b1_concurrent(E: Any, trace: Trace) -> tuple[Any, float, dict[str, int]]:
    """B1 for a concurrent trace: replay with forks and merges; returns (doc, ms, stats).

    Each txn starts from one of its parents' documents -- taken over in place when no
    other txn needs it (preferring the same agent), else forked -- merges the other
    parents into it and applies its patches in one transaction.  The final document is
    the merge of every leaf.  The same algorithm as ``b1Concurrent`` in run_trace.mjs.
    """
    txns = trace["txns"]
    n = len(txns)
    docs: list[Any] = [None] * n
    remaining = [t["numChildren"] for t in txns]
    forks = merges = 0

    def release(p: int) -> None:
        remaining[p] -= 1
        if remaining[p] == 0 and docs[p] is not None:
            E.free(docs[p])
            docs[p] = None

    t0 = time.perf_counter()
    for i, t in enumerate(txns):
        ps = t["parents"]
        agent = t["agent"]
        if not ps:
            doc = E.create(agent)
        else:
            base = -1
            for p in ps:
                if remaining[p] == 1 and txns[p]["agent"] == agent:
                    base = p
                    break
            if base < 0:
                for p in ps:
                    if remaining[p] == 1:
                        base = p
                        break
            if base >= 0:
                doc = E.adopt(docs[base], agent)
                docs[base] = None
                remaining[base] -= 1
            else:
                base = ps[0]
                doc = E.fork(docs[base], agent)
                forks += 1
                release(base)
            for p in ps:
                if p == base:
                    continue
                doc = E.merge(doc, docs[p])
                merges += 1
                release(p)
        doc = E.edit(doc, t["patches"])
        docs[i] = doc
    leaves = [i for i in range(n) if txns[i]["numChildren"] == 0]
    doc = docs[leaves[0]]
    docs[leaves[0]] = None
    for leaf in leaves[1:]:
        doc = E.merge(doc, docs[leaf])
        merges += 1
        E.free(docs[leaf])
        docs[leaf] = None
    E.settle(doc)
    ms = (time.perf_counter() - t0) * 1000
    return doc, ms, {"forks": forks, "merges": merges, "leaves": len(leaves)}


def meta(paths: list[Path]) -> list[dict[str, Any]]:
    """Name, modes and sizes of each trace (what the orchestrator needs to plan its jobs)."""
    out = []
    for p in paths:
        tr = load_trace(p)
        out.append(
            {
                "path": str(p),
                "name": trace_name(p),
                "modes": modes_for(tr),
                "n_txns": len(tr["txns"]),
                "n_patches": n_patches(tr),
            }
        )
        del tr
    return out


if __name__ == "__main__":
    # ``python -m bench.traces PATH...`` prints meta() as JSON.  The orchestrator asks a
    # subprocess so that it never holds a parsed trace itself: Linux carries a parent's
    # RSS high-water mark into its children (fork + exec), which would inflate every
    # worker's ru_maxrss.
    import sys

    print(json.dumps(meta([Path(a) for a in sys.argv[1:]])))
