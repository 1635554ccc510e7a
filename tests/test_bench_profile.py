"""The profile of one benchmark row (bench/profile.py): areas, and a run on a small trace."""

from __future__ import annotations

import pytest

from bench.profile import area_of, by_area, floor, main, profile_step, render


def test_areas_name_our_modules_and_the_c_libraries() -> None:
    assert area_of("/x/y/crdt/fastpath.py", "apply_fast") == "crdt/fastpath.py"
    assert area_of("/x/bench/engines/ours.py", "edit") == "bench/engines/ours.py"
    assert area_of("/usr/lib/python3.11/contextlib.py", "__exit__") == "contextlib.py"
    assert area_of("~", "<built-in method zlib.compress>") == "zlib"
    assert area_of("~", "<built-in method msgpack._cmsgpack.unpackb>") == "msgpack"
    assert area_of("~", "<built-in method builtins.len>") == "builtins"
    assert area_of("~", "<method 'digest' of '_blake2.blake2b' objects>") == "_blake2"
    assert area_of("~", "<method 'append' of 'list' objects>") == "builtins"
    assert area_of("~", "<method 'fullmatch' of 're.Pattern' objects>") == "re"


def test_a_profile_of_a_remote_merge_accounts_for_its_time() -> None:
    s = profile_step("sveltecomponent", "one", "b2")
    assert (s.trace, s.mode, s.step) == ("sveltecomponent", "one", "b2")
    assert s.wall_ms > 0 and s.profiled_ms > 0
    areas = dict(by_area(s))
    assert sum(areas.values()) == pytest.approx(s.profiled_ms)
    assert any(a.startswith("crdt/") for a in areas)
    assert [ln.own_s for ln in s.lines] == sorted((ln.own_s for ln in s.lines), reverse=True)
    text = render(s, 4)
    assert text.startswith("sveltecomponent one b2: ")
    assert text.count("%") == min(4, len(areas)) + 4


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sveltecomponent", "one", "--step", "load", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "sveltecomponent one load:" in out and "own time by area:" in out
    assert main(["sveltecomponent", "one", "--bare"]) == 0
    assert capsys.readouterr().out.startswith("sveltecomponent one b2: ")
    with pytest.raises(SystemExit):
        main(["sveltecomponent", "one", "--top", "0"])
    with pytest.raises(SystemExit, match="does not fit"):
        main(["sveltecomponent", "concurrent"])
    with pytest.raises(ValueError, match="not one of"):
        profile_step("sveltecomponent", "one", "b3")


def test_a_row_whose_text_is_wrong_is_not_profiled(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.engines import ours

    monkeypatch.setattr(ours.Ours, "text", lambda self, doc: "not the trace's text")
    with pytest.raises(SystemExit, match="differs from the trace's endContent"):
        profile_step("sveltecomponent", "one", "b2")


def test_the_floor_takes_b2s_history_apart(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import engines, traces

    f = floor("sveltecomponent", "per-patch", repeats=1)
    E = engines.make("ours")
    trace = traces.load_trace(traces.resolve_trace("sveltecomponent"))
    doc = traces.b1_sequential(E, trace, trace["txns"], "per-patch")[0]
    raws = doc.get_changes()
    assert (f.trace, f.mode, f.changes, f.nbytes) == (
        "sveltecomponent",
        "per-patch",
        len(raws),
        sum(len(r) for r in raws),
    )
    assert 0 < f.hash_ms and 0 < f.decode_ms and 0 < f.apply_ms
    assert main(["sveltecomponent", "one", "--floor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sveltecomponent one B2's history: 2 changes, ")
    assert "hashing them" in out and "applying them (B2)" in out
