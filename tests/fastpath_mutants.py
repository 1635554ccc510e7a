"""Mutation check of the fast path: every check in ``crdt/fastpath.py`` must be needed.

    python tests/fastpath_mutants.py        # ~10 min: pytest tests/test_fastpath.py per mutant

Each mutant weakens one check (or bends one value) of the fast path; the differential
tests of ``tests/test_fastpath.py`` must then fail.  A mutant they survive is a check no
test shows to matter, or an equivalent one (the order of two dep numbers, which nothing
reads, is one: it is not listed).  Not collected by pytest; the file is restored whatever
happens.
"""

# ruff: noqa: E501  (the mutants are lines of code, as they stand in the file)
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "crdt" / "fastpath.py"

MUTANTS = [
    (
        "        if pack_lists(top) != raw:  # canonical form, as decode_change demands\n            break\n",
        "",
    ),
    (
        "                if type(other) is not bytes or other == actor:",
        "                if type(other) is not bytes:",
    ),
    (
        "                if not 0 <= oi <= 1 or not 0 <= ri <= 1:",
        "                if not 0 <= oi or not 0 <= ri <= 1:",
    ),
    (
        "            if len(table) != 1 or not (oi == 1 or ri == 1):",
        "            if len(table) != 1:",
    ),
    ("            and 0 <= time <= INT64_MAX\n", ""),
    (
        "            if st.type is not _TEXT or start_op + size - 1 > INT64_MAX:",
        "            if start_op + size - 1 > INT64_MAX:",
    ),
    ("                if st.type is _MAP:\n                    break\n", ""),
    ("        if seq != known + 1:\n            break\n", ""),
    ("            and (message is None or type(message) is str)\n", ""),
    ("                if e < end:\n                    break\n", ""),
    ("            and type(version) is int\n", ""),
    (
        "if not (type(oc) is int and type(oi) is int and type(rc) is int and type(ri) is int):",
        "if not (type(oi) is int and type(rc) is int and type(ri) is int):",
    ),
    (
        "if not (type(oc) is int and type(oi) is int and type(rc) is int and type(ri) is int):",
        "if not (type(oc) is int and type(oi) is int and type(ri) is int):",
    ),
    (
        "if not (type(oc) is int and type(oi) is int and type(rc) is int and type(ri) is int):",
        "if not (type(oc) is int and type(oi) is int and type(rc) is int):",
    ),
    (
        "elif a == _REM and type(a) is int and type(x) is int and 0 < x:",
        "elif a == _REM and type(a) is int and 0 < x:",
    ),
    (
        "        if a == _INS and type(a) is int and type(x) is str and x:",
        "        if a == _INS and type(a) is int and type(x) is str:",
    ),
    ("            and 0 < len(actor) <= MAX_ACTOR_LEN\n", ""),
    ("            and len(ops) == 1\n", ""),
    ("        if len(op) == 4:  # INS or REM of text", "        if len(op) >= 4:"),
    (
        "                found = sq.find(rc, ra)\n                if found is None:\n                    break\n",
        "                found = sq.find(rc, ra)\n",
    ),
    ("            start_op == nxt\n", "            start_op >= nxt\n"),
    (
        "                causality(c, dep_idx, known, refs, preds)  # (may set doc._clock_for_next)\n",
        "                pass\n",
    ),
    (
        "                    refs.append(((e if e < end else end) - 1, ra))  # (as the general path)\n",
        "                    pass\n",
    ),
    (
        "            refs = None if at_heads else [obj, (rc, ra)]\n",
        "            refs = None if at_heads else [obj]\n",
    ),
    (
        "            h.remember(i, doc._clock_for_next)  # (later clock walks stop here)\n",
        "            pass\n",
    ),
    ("            hnxt = start_op + size\n", "            hnxt = start_op + size + 1\n"),
    ("        if start_op + size - 1 > max_op:\n", "        if False:\n"),
    (
        "            at_heads = len(heads) == 2 and i1 in heads and i2 in heads",
        "            at_heads = len(heads) == 2",
    ),
    ("                at_heads = False", "                at_heads = True"),
    (
        "                if j is None:\n                    break",
        "                if j is None:\n                    j = 0",
    ),
    ("                dep_hashes = (d,)", "                dep_hashes = (d + b'x',)"),
    ("            dep_hashes = (d, d2)", "            dep_hashes = (d2, d)"),
    ("or not d < d2:", ":"),
    (
        "            nxt = max(start[i1] + n_ops[i1], start[i2] + n_ops[i2])",
        "            nxt = min(start[i1] + n_ops[i1], start[i2] + n_ops[i2])",
    ),
    ("                nxt = start[j] + n_ops[j]", "                nxt = start[j] + n_ops[j] + 1"),
    # the SET of a scalar at a map key
    ("a == _SET and type(a) is int and type(key) is str", "a == _SET and type(key) is str"),
    ("a == _SET and type(a) is int and type(key) is str", "a == _SET and type(a) is int"),
    ("type(key) is str and type(pr) is list):", "type(key) is str):"),
    ("(tx is int and INT64_MIN <= x <= INT64_MAX)", "(tx is int and INT64_MIN <= x)"),
    ("(tx is int and INT64_MIN <= x <= INT64_MAX)", "tx is int"),
    (
        "                or tx is bytes\n",
        "                or tx is bytes\n                or tx is list\n",
    ),
    ("                or tx is bytes\n", ""),
    (
        "                if type(t1) is not bytes or t1 == actor:",
        "                if type(t1) is not bytes:",
    ),
    (
        "type(t2) is not bytes or not t1 < t2:",
        "type(t2) is not bytes:",
    ),
    ("                if t1 == actor or t2 == actor:", "                if t1 == actor:"),
    ("                if t1 == actor or t2 == actor:", "                if t2 == actor:"),
    (
        "if type(oc) is not int or type(oi) is not int or not 0 <= oi < nn:",
        "if type(oi) is not int or not 0 <= oi < nn:",
    ),
    (
        "if type(oc) is not int or type(oi) is not int or not 0 <= oi < nn:",
        "if type(oc) is not int or not 0 <= oi < nn:",
    ),
    (
        "if type(oc) is not int or type(oi) is not int or not 0 <= oi < nn:",
        "if type(oc) is not int or type(oi) is not int or not 0 <= oi:",
    ),
    ("                used |= 1 << oi\n", ""),
    ("                used |= 1 << pi\n", ""),
    (
        "                if type(p) is not list or len(p) != 2:",
        "                if type(p) is not list:",
    ),
    (
        "if type(pc) is not int or type(pi) is not int or not 0 <= pi < nn:",
        "if type(pi) is not int or not 0 <= pi < nn:",
    ),
    (
        "if type(pc) is not int or type(pi) is not int or not 0 <= pi < nn:",
        "if type(pc) is not int or not 0 <= pi < nn:",
    ),
    (
        "if type(pc) is not int or type(pi) is not int or not 0 <= pi < nn:",
        "if type(pc) is not int or type(pi) is not int or not 0 <= pi:",
    ),
    ("            if len(preds) != len(pr) or used", "            if used"),
    ("or used != (1 << nn) - 1:", ":"),
    ("            if st is None or st.type is not _MAP:", "            if st is None:"),
    (
        "                refs = [] if obj is None else [obj]",
        "                refs = []",
    ),
    (
        "                refs = None if w is not None and (w[0], w[1]) == preds[0] else []",
        "                refs = None",
    ),
    (
        "                refs = None if w is not None and (w[0], w[1]) == preds[0] else []",
        "                refs = None if w is not None and w[0] == preds[0][0] else []",
    ),
    (
        "                w = cur[-1] if cur and len(preds) == 1 else None",
        "                w = cur[-1] if cur else None",
    ),
]


def main() -> int:
    src = TARGET.read_text()
    survived = 0
    try:
        for old, new in MUTANTS:
            if old not in src:
                print("NOT FOUND (the code changed: update this list):", old.strip()[:70])
                survived += 1
                continue
            TARGET.write_text(src.replace(old, new, 1))
            r = subprocess.run(
                [sys.executable, "-m", "pytest", "tests/test_fastpath.py", "-q", "-x"],
                cwd=ROOT,
                capture_output=True,
            )
            killed = r.returncode != 0
            survived += not killed
            print("killed  " if killed else "SURVIVED", old.strip()[:70])
    finally:
        TARGET.write_text(src)
    print(f"{len(MUTANTS) - survived} of {len(MUTANTS)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
