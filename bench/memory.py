"""Memory of a document with its full history (issue 4, B4 target), one process per run.

    python -m bench.memory [--trace automerge-paper] [--json PATH]

For each mode (one transaction; a transaction per patch, whose commits merge into one
change, SPEC.md 5.9; and, for reference, a transaction per patch with merging off, a
change per patch: engine ``ours-unmerged``) a fresh worker process loads the
trace, collects garbage and reads its resident set size (``/proc/self/statm``), replays the
trace into our engine, collects garbage again and reads it again.  The difference is the
memory the document holds -- history and state -- above an interpreter that already holds
the parsed trace (the input, which is not the document's).  It is the current RSS, not the
peak, and it includes what the C heap keeps after frees (fragmentation), so it is what the
operating system sees.  The worker's ``+RSS`` column in the main table is a different
figure: the peak of a process that also held the B2 and load copies.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import engines, traces

RESULTS = Path(__file__).resolve().parent / "results"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(trace: str, mode: str, engine: str = "ours") -> dict[str, Any]:
    """In this process: RSS of the document built by replaying ``trace`` in ``mode``."""
    E = engines.make(engine)
    tr = traces.load_trace(traces.resolve_trace(trace))
    gc.collect()
    before = _rss_mib()
    doc, ms = traces.b1_sequential(E, tr, tr["txns"], mode)
    gc.collect()
    after = _rss_mib()
    ok = E.text(doc) == tr["endContent"]
    return {
        "trace": trace,
        "mode": mode,
        "engine": engine,
        "version": E.version,
        "n_changes": E.n_changes(doc, {}),
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
        "doc_rss_mib": round(after - before, 1),
        "b1_ms": round(ms, 1),
        "ok": ok,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="automerge-paper")
    ap.add_argument("--json", type=Path, default=RESULTS / "memory.json")
    ap.add_argument(
        "--worker", nargs=3, metavar=("TRACE", "MODE", "ENGINE"), help=argparse.SUPPRESS
    )
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(measure(*a.worker)))
        return 0
    rows = []
    for mode, engine in (("one", "ours"), ("per-patch", "ours"), ("per-patch", "ours-unmerged")):
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--worker", a.trace, mode, engine],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout))
    print(f"\nMemory of the document with its full history ({a.trace}), RSS above the")
    print("interpreter holding the parsed trace (current RSS after gc, one process each):\n")
    print("| engine | mode | changes | document RSS MiB | ok |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['mode']} | {r['n_changes']:,} | {r['doc_rss_mib']:.1f} "
            f"| {r['ok']} |"
        )
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwrote {a.json}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
