"""Mutation check of what a failed call undoes, and of how a store's document sorts out the
changes it waits for.

    python tests/rollback_mutants.py         # ~2 min
    python tests/rollback_mutants.py waiting # only the mutants of lines holding "waiting"

``crdt/doc.py``: a failed ``apply_changes`` call that does not rebuild what its buffered
changes wait for, rebuilds it before the history is truncated (a dep the call applied and
undid counts as present), or keeps the rejections it made; a change that takes its
author's op ids again, found only after its ops are applied (too late: see
``test_change_reusing_its_authors_op_ids_is_refused_before_any_op``).  ``crdt/storage/store.py``
(``PersistentDoc.apply_changes``): the waiting changes sorted out in place (a failed call
changes them), an invalid change an earlier call left waiting that fails the call instead
of being rejected, or is not logged, or found one copy at a time; the waiting changes not
bounded; a change found in the cut not remembered, in the call or after it.  The targeted tests (``tests/test_bad_input.py``, the storage tests of bad
input and of stale changes) and the store's fuzzer must then fail.  Not collected by
pytest.
"""

# ruff: noqa: E501  (the mutants are lines of code, as they stand in the file)
from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

DOC_TESTS = ["tests/test_bad_input.py"]
STORE_TESTS = [
    "tests/storage/test_remote_bad_input.py",
    "tests/storage/test_epochs.py",
    "tests/storage/test_store_fuzz.py",
]

DOC_MUTANTS = [
    (
        "            self._waiting = _waiting_index(pending_before, self._history.index, self._base)\n",
        "",
    ),
    (  # the order before the fix: the index rebuilt while the call's changes are in it
        "        except BaseException:\n"
        "            if len(self._history) != mark or self._dirty:\n"
        "                self._history.truncate(mark)\n"
        "                self._rebuild()\n"
        "                self._dirty = False\n"
        "            # (after the truncation: a dep the call applied and undid is missing again,\n"
        "            # and a change buffered before the call must wait for it again)\n"
        "            self._pending = pending_before\n"
        "            self._waiting = _waiting_index(pending_before, self._history.index, self._base)\n",
        "        except BaseException:\n"
        "            self._pending = pending_before\n"
        "            self._waiting = _waiting_index(pending_before, self._history.index, self._base)\n"
        "            if len(self._history) != mark or self._dirty:\n"
        "                self._history.truncate(mark)\n"
        "                self._rebuild()\n"
        "                self._dirty = False\n",
    ),
    ("            del self.rejected[rejected_before:]", "            pass"),
    ("            if start_op < start[last] + n_ops[last]:", "            if False:"),
]

STORE_MUTANTS = [
    (
        "            waiting = {**self._waiting, **fresh}",
        "            waiting = self._waiting\n            waiting.update(fresh)",
    ),
    (
        "                if not refused or any(u.hash in fresh for u, _ in refused):",
        "                if True:",
    ),
    (
        "                if not refused or any(u.hash in fresh for u, _ in refused):",
        "                if not refused:",
    ),
    ("                out.append((u, exc))", "                return [(u, exc)]"),
    ("            if len(waiting) > self._max_waiting():", "            if False:"),
    ('            st.reject(u, f"invalid: {exc}")', "            pass"),
    ("                    before_cut.add(h)", "                    pass"),
    ("        self._before_cut |= before_cut", "        pass"),
    (
        "            if d in self._before_cut or d in before_cut or self.doc.has_change(d):",
        "            if d in before_cut or self.doc.has_change(d):",
    ),
    (
        "            if d in self._before_cut or d in before_cut or self.doc.has_change(d):",
        "            if d in self._before_cut or self.doc.has_change(d):",
    ),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    doc = run(ROOT / "crdt" / "doc.py", DOC_TESTS, DOC_MUTANTS, only)
    store = run(ROOT / "crdt" / "storage" / "store.py", STORE_TESTS, STORE_MUTANTS, only)
    return doc or store


if __name__ == "__main__":
    sys.exit(main())
