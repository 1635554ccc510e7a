"""The benchmark harness's bookkeeping (bench/run.py): pooling one-repeat workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import Job, make_record, merge_raws


def _raw(b1: float, rss: int, ok: bool = True, error: str | None = None) -> dict:
    return {
        "engine": "ours",
        "version": "0",
        "b1_ms": [b1],
        "b2_ms": [b1 / 2],
        "load_ms": [1.0],
        "verified_load_ms": [b1 * 3],
        "save_bytes": 10,
        "n_changes": 2,
        "peak_rss_kib": rss,
        "ok": ok,
        "error": error,
    }


def test_merge_pools_timings_and_keeps_the_largest_rss() -> None:
    m = merge_raws([_raw(30.0, 100), _raw(10.0, 300), _raw(20.0, 200)])
    assert m["b1_ms"] == [30.0, 10.0, 20.0]
    assert m["b2_ms"] == [15.0, 5.0, 10.0]
    assert m["verified_load_ms"] == [90.0, 30.0, 60.0]
    assert m["peak_rss_kib"] == 300
    assert m["ok"] and m["error"] is None and not m["timeout"]
    job = Job(Path("t.json.gz"), "t", "one", "ours", 5, 5)
    rec = make_record(job, "ok", m, "", 50)
    assert (rec["b1_ms"], rec["b1_ms_min"], rec["b1_ms_max"]) == (20.0, 10.0, 30.0)
    assert rec["rss_above_baseline_kib"] == 250
    assert rec["status"] == "ok"


def test_merge_is_not_ok_if_any_worker_failed() -> None:
    m = merge_raws([_raw(1.0, 1), _raw(2.0, 1, ok=False, error="text differs")])
    assert not m["ok"]
    assert m["error"] == "text differs"
    job = Job(Path("t.json.gz"), "t", "one", "ours", 5, 5)
    assert make_record(job, "ok", m, "", None)["status"] == "FAILED"


def test_without_node_the_python_side_runs_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ``node`` on the PATH: a notice, the Node peers skipped, and our rows measured,
    checked against the trace and written with every field the issue names."""
    from bench import node
    from bench.run import main

    monkeypatch.setattr(node, "node_binary", lambda: None)
    args = ["--engines", "ours,yjs", "--traces", "sveltecomponent", "--repeats", "1"]
    assert main([*args, "--out", str(tmp_path), "--no-chart"]) == 0
    err = capsys.readouterr().err
    assert "NOTICE: node not found" in err and "running the Python side alone" in err
    doc = json.loads((tmp_path / "results.json").read_text())
    rows = doc["results"]
    assert {(r["engine"], r["mode"]) for r in rows} == {("ours", "one"), ("ours", "per-patch")}
    for r in rows:
        assert r["trace"] == "sveltecomponent" and r["ok"] is True and r["version"]
        for k in ("b1_ms", "b2_ms", "load_ms", "b2_floor_ms"):
            assert 0 < r[k + "_min"] <= r[k] <= r[k + "_max"]
        assert r["b2_floor_ms"] < r["b2_ms"]  # (B2 hashes every change, and applies it)
        assert r["save_bytes"] > 0 and r["peak_rss_kib"] > 0
    assert doc["meta"]["node_notice"].startswith("node not found")
    assert "sveltecomponent" in (tmp_path / "results.md").read_text()


def test_a_row_that_is_not_correct_fails_the_run_after_the_files_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace whose ``endContent`` the replay does not reach: the row is shown as failed,
    not timed, the files are still written, and the exit status is 1, so a CI smoke run
    (``make bench-quick``) goes red.  The same trace with the right text exits 0."""
    import gzip

    from bench.run import main

    txns = [{"patches": [[0, 0, "hello"]]}, {"patches": [[5, 0, " world"], [0, 1, "H"]]}]
    path = tmp_path / "tiny.json.gz"
    args = ["--engines", "ours", "--traces", str(path), "--repeats", "1", "--no-chart"]
    for end, code in (("Hello world", 0), ("Hello worlds", 1)):
        trace = {"kind": "sequential", "endContent": end, "txns": txns}
        path.write_bytes(gzip.compress(json.dumps(trace).encode()))
        out = tmp_path / f"out-{code}"
        capsys.readouterr()
        assert main([*args, "--out", str(out)]) == code
        captured = capsys.readouterr()
        rows = json.loads((out / "results.json").read_text())["results"]
        assert {r["mode"] for r in rows} == {"one", "per-patch"}
        if code == 0:
            assert all(r["status"] == "ok" and r["b1_ms"] > 0 for r in rows)
            assert "not ok" not in captured.out
        else:
            assert all(r["status"] == "FAILED" and r["b1_ms"] is None for r in rows)
            assert all("differs" in r["error"] for r in rows), rows
            assert "not ok:" in captured.out and "FAILED" in (out / "results.md").read_text()
            assert "2 row(s) not ok" in captured.err


def test_ours_merges_a_transaction_per_patch_and_ours_unmerged_does_not(tmp_path: Path) -> None:
    """The per-patch rows: ours merges the commits no one has read into one change (SPEC.md
    5.9), the on-request engine ``ours-unmerged`` makes a change of each; both correct."""
    import gzip

    from bench.run import DEFAULT_ENGINES, main
    from bench.traces import resolve_trace

    assert "ours-unmerged" not in DEFAULT_ENGINES
    args = ["--engines", "ours,ours-unmerged", "--traces", "sveltecomponent", "--repeats", "1"]
    assert main([*args, "--out", str(tmp_path), "--no-chart"]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["results"]
    by = {(r["engine"], r["mode"]): r for r in rows}
    assert all(r["ok"] for r in rows) and len(by) == 4
    txns = json.loads(gzip.open(resolve_trace("sveltecomponent")).read())["txns"]
    assert by[("ours-unmerged", "per-patch")]["n_changes"] == 1 + len(txns)  # (and genesis)
    assert by[("ours", "per-patch")]["n_changes"] == 2
    assert by[("ours", "one")]["n_changes"] == by[("ours-unmerged", "one")]["n_changes"] == 2


def test_yjs_concurrent_b2_is_also_timed_as_its_change_stream(tmp_path: Path) -> None:
    """Concurrent traces: Yjs's B2 applies its merged state; ``b2_stream_ms`` times its
    change stream too, one update per local transaction of every replica.  The trace is
    made by hand: agent 1 appends while agent 0 prepends, then a merge deletes the prefix
    (no two inserts at one place, so every engine must end with the text below)."""
    import gzip
    import os
    import subprocess

    from bench import node

    usable, notice = node.availability()
    if not usable:
        if os.environ.get("CI"):
            pytest.fail(f"the Node peers are missing under CI: {notice}")
        pytest.skip(str(notice))
    txns = [
        {"parents": [], "numChildren": 2, "agent": 0, "patches": [[0, 0, "hello"]]},
        {"parents": [0], "numChildren": 1, "agent": 1, "patches": [[5, 0, " world"]]},
        {"parents": [0], "numChildren": 1, "agent": 0, "patches": [[0, 0, ">"]]},
        {"parents": [1, 2], "numChildren": 0, "agent": 1, "patches": [[0, 1, ""]]},
    ]
    trace = {"kind": "concurrent", "endContent": "hello world", "numAgents": 2, "txns": txns}
    path = tmp_path / "tiny.json.gz"
    path.write_bytes(gzip.compress(json.dumps(trace).encode()))
    cmd = node.command("yjs", path, "concurrent", 2)
    r = subprocess.run(cmd, cwd=node.JS_DIR, capture_output=True, text=True, timeout=120)
    out = json.loads(r.stdout)
    assert out["ok"] is True, out["error"]
    assert len(out["b2_ms"]) == len(out["b2_stream_ms"]) == 2
    assert out["b2_note"] == "Yjs: one update from encodeStateAsUpdate"
    assert out["b2_stream_note"].startswith("Yjs: 4 per-transaction updates")
    assert out["peak_rss_stream_kib"] >= out["peak_rss_kib"] > 0  # (read before the stream)
    # the stream's text is checked like every other step's
    bad = {**trace, "endContent": "hello worl"}
    path.write_bytes(gzip.compress(json.dumps(bad).encode()))
    r = subprocess.run(cmd, cwd=node.JS_DIR, capture_output=True, text=True, timeout=120)
    out = json.loads(r.stdout)
    assert out["ok"] is False and "B2 stream" in out["error"]


def test_the_b2_floor_hashes_every_change_b2_applies() -> None:
    """``b2_floor_ms`` times hashing each change of the history B2 applies: each change's
    own hash, as the engine names it, every change once."""
    from bench.engines.ours import Ours
    from crdt import Doc, decode_change

    doc = Doc()
    text = doc.root.make_text("t")
    for i in range(5):
        text.insert(i, "ab"[i % 2])
        doc.heads  # noqa: B018  (a change each)
    peer = doc.fork()
    peer.root["t"].insert(0, "x")
    doc.root["t"].insert(0, "y")
    doc.merge(peer)
    E = Ours()
    hist = E.export_history(doc, {})
    assert len(hist["data"]) >= 3
    assert E.b2_floor(hist) == [decode_change(raw).hash for raw in hist["data"]]


def test_the_change_stream_is_pooled_and_compared() -> None:
    from bench.run import ratio_lines

    def yraw(b2: float, stream: float) -> dict:
        r = {**_raw(100.0, 10), "engine": "yjs", "b2_ms": [b2], "b2_stream_ms": [stream]}
        del r["verified_load_ms"]
        return {**r, "b2_note": "state", "b2_stream_note": "stream"}

    job = Job(Path("t.json.gz"), "t", "concurrent", "yjs", 5, 5)
    y = make_record(
        job, "ok", merge_raws([yraw(2.0, 300.0), yraw(1.0, 100.0), yraw(3, 200)]), "", 1
    )
    assert (y["b2_stream_ms"], y["b2_stream_ms_min"], y["b2_stream_ms_max"]) == (200, 100, 300)
    assert y["b2_stream_note"] == "stream" and "verified_load_ms" not in y
    ours = make_record(
        Job(Path("t.json.gz"), "t", "concurrent", "ours", 5, 5),
        "ok",
        {**_raw(100.0, 10), "b2_ms": [50.0], "b2_floor_ms": [4.0, 3.0, 5.0]},
        "",
        1,
    )
    assert "b2_stream_ms" not in ours and "b2_floor_ms" not in y
    assert (ours["b2_floor_ms"], ours["b2_floor_ms_min"], ours["b2_floor_ms_max"]) == (4, 3, 5)
    lines = ratio_lines([ours, y])
    (line,) = [ln for ln in lines if "ours/yjs" in ln]
    assert "B2 ours/yjs = 25x" in line and "B2 ours/yjs change stream = 0.25x" in line
    assert "B2 floor ours/yjs = 2.00x" in line
    floor = "ours B2 floor (hashing its 2 changes, nothing else): 4.00 ms of B2's 50.0 ms"
    assert f"  [concurrent] {floor}" in lines
