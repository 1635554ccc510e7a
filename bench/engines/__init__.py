"""One adapter per Python engine, all with the same operations (as in run_trace.mjs):

=============================  ==========================================================
``name``, ``version``          engine name in the tables, package version
``create(agent)``              empty document (with the text object) editing as ``agent``
``edit(doc, patches)``         apply ``[[pos, del, ins], ...]`` as ONE transaction -> doc
``fork(doc, agent)``           independent copy that edits as ``agent``
``adopt(doc, agent)``          take over ``doc`` (nobody else uses it) to edit as ``agent``
``merge(doc, other)``          ``doc := merge(doc, other)`` -> doc
``text(doc)``                  the current text
``export_history(doc, ctx)``   untimed: ``{"note", "data", ...}``, the engine's own changes
``apply_history(hist)``        timed (B2): a new empty document + apply ``hist`` -> doc
``save(doc)`` / ``load(b)``    B3
``n_changes(doc, ctx)``        changes (or updates) in the history
``free(doc)``                  drop a document
``positions``                  "codepoint" or "utf8": the unit of text positions
=============================  ==========================================================

Each adapter module imports its engine lazily in ``make()`` so that the baseline worker
measures exactly "interpreter + this engine imported".
"""

from __future__ import annotations

import importlib
from typing import Any

PY_ENGINES: dict[str, str] = {
    "ours": "bench.engines.ours",
    "loro-py": "bench.engines.loro_py",
    "pycrdt": "bench.engines.pycrdt_py",
    "ours-unmerged": "bench.engines.ours_unmerged",  # (on request only: bench.run)
}


def make(name: str) -> Any:
    if name not in PY_ENGINES:
        raise KeyError(f"unknown Python engine {name!r} (have {', '.join(PY_ENGINES)})")
    return importlib.import_module(PY_ENGINES[name]).make()
