"""Adapter for our engine with merging off: a change per commit (``merge_interval=None``).

Not in the default set (``python -m bench --engines ours,ours-unmerged``): it shows what a
change per keystroke costs, the history a peer that merges no commits (Automerge) sends.
"""

from __future__ import annotations

from typing import Any

from bench.engines.ours import Ours


class OursUnmerged(Ours):
    name = "ours-unmerged"

    def create(self, agent: int) -> Any:
        doc = super().create(agent)
        doc.merge_interval = None  # (forks inherit it)
        return doc


def make() -> OursUnmerged:
    return OursUnmerged()
