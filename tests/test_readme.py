"""The README's code examples run as written (so the first page never lies)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(_blocks()) >= 2


def test_readme_examples_run(tmp_path: Path) -> None:
    for block in _blocks():
        code = block.replace('"data/shopping"', repr(str(tmp_path / "shopping")))
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def test_readme_starts_with_the_two_commands() -> None:
    lines = [x.strip() for x in README.read_text().splitlines() if x.strip()]
    assert lines[1].startswith("make bench") and lines[2].startswith("make test")
