"""``bench.scaling``: its cases measure what they say, and the command writes its results."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench import scaling


def test_a_built_document_has_its_size_in_many_runs() -> None:
    doc, obj = scaling.build(5_000, random.Random(3))
    seq = doc._opset.objs[obj].data
    runs = sum(1 for _ in seq.runs())
    assert len(doc.root["text"]) == 5_000
    # size/16 inserts of 16 characters, most splitting a run: about size/8 runs
    assert 5_000 // 16 < runs <= 2 * (5_000 // 16) + 1


def test_the_size_case_times_the_first_remote_change_apart() -> None:
    row = scaling.size_case(2_000, seed=5)
    assert row["size"] == 2_000 and row["ops"] == scaling.N_OPS
    first_s = row["remote_first_ms"] / 1e3
    rest_s = row["remote_rest_us_per_op"] * (scaling.N_OPS - 1) / 1e6
    whole_s = row["remote_us_per_op"] * scaling.N_OPS / 1e6
    # the two parts are timed inside the whole, one clock read apart
    assert first_s > 0 and rest_s > 0
    assert abs(whole_s - (first_s + rest_s)) < 1e-3


def test_the_first_remote_change_builds_the_id_index() -> None:
    rng = random.Random(7)
    doc, obj = scaling.build(1_000, rng)
    changes = scaling.remote_changes(doc, obj, rng, 3, 1)
    seq = doc._opset.objs[obj].data
    assert not seq._indexed
    doc.apply_changes(changes[:1])
    assert seq._indexed
    doc.apply_changes(changes[1:])
    assert len(doc.root["text"]) == 1_003


def test_the_command_writes_its_results_and_sentence(tmp_path: Path) -> None:
    args = ["--max-size", "1000", "--max-actors", "2", "--repeats", "1", "--no-chart"]
    code = scaling.main([*args, "--out", str(tmp_path)])
    assert code == 0
    res = json.loads((tmp_path / "scaling.json").read_text())
    assert [r["size"] for r in res["size"]] == [1_000]
    assert [r["actors"] for r in res["actors"]] == [1, 2]
    row = res["size"][0]
    for k in ("local_us_per_op", "remote_us_per_op", "remote_first_ms", "remote_rest_us_per_op"):
        assert row[k] > 0 and row[f"{k}_min"] <= row[k] <= row[f"{k}_max"]
    assert "builds the id index once" in res["summary"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaling.json"]  # (--no-chart)
