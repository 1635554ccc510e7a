"""The storage and memory benchmarks (``bench/storage_bench.py``, ``bench/memory.py``), as
``make bench`` and ``make bench-quick`` run them: their figures are checked against the
trace's own text, and a wrong one fails the command."""

from __future__ import annotations

import gc
import gzip
import json
from pathlib import Path

import pytest

from bench import memory, storage_bench
from bench.traces import resolve_trace


def _trace(name: str) -> dict:
    with gzip.open(resolve_trace(name)) as f:
        return json.load(f)  # type: ignore[no-any-return]


def test_the_replayed_text_is_the_trace_s_end_content() -> None:
    """The quick run's oracle (a prefix's text by plain string splicing) against the
    trace's own ``endContent``, over a whole trace."""
    tr = _trace("sveltecomponent")
    assert storage_bench._replayed_text(tr["txns"]) == tr["endContent"]
    assert storage_bench._replayed_text(tr["txns"][:100]) != tr["endContent"]


def test_the_quick_storage_run_checks_both_logs_reload(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(storage_bench, "TRACE", "sveltecomponent")
    assert gc.get_freeze_count() == 0
    assert storage_bench.main(["--quick"]) == 0
    assert gc.get_freeze_count() == 0  # (it froze the trace's objects while it ran)
    out = capsys.readouterr().out
    assert "per_patch_reload_ok      True" in out and "one_txn_reload_ok        True" in out
    # a log that reloads to another text than its patches make fails the run
    real = storage_bench._replayed_text
    monkeypatch.setattr(storage_bench, "_replayed_text", lambda txns: real(txns) + "x")
    assert storage_bench.main(["--quick"]) == 1
    captured = capsys.readouterr()
    assert "per_patch_reload_ok      False" in captured.out
    assert "did not reload" in captured.err


def test_the_memory_run_measures_each_mode_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    assert memory.main(["--trace", "sveltecomponent", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["engine"], r["mode"]) for r in rows] == [
        ("ours", "one"),
        ("ours", "per-patch"),
        ("ours-unmerged", "per-patch"),
    ]
    txns = _trace("sveltecomponent")["txns"]
    assert all(r["ok"] and r["doc_rss_mib"] >= 0 for r in rows)
    assert [r["n_changes"] for r in rows] == [2, 2, 1 + len(txns)]  # (and genesis)
