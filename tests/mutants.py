"""The mutation runner behind ``tests/*_mutants.py``.

Each mutant replaces one piece of code in the target file with a weaker (or bent) one;
the given test files must then fail.  A mutant they survive is a check no test shows to
matter, or an equivalent one (the runner's caller names those).  The target is restored
whatever happens.  A mutant may make the code loop (a tree walk that never ends): each
test run has a time limit and a memory limit, and hitting either counts as killed.  A
mutant whose text is not in the file, or is an indented line whose first occurrence (the
one it would change) lies inside a more indented line, counts as survived, with a note to
update the list: it would change another line than it names.  Not collected by pytest.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


TIME_LIMIT = 300  # seconds per mutant's test run (by default)
MEMORY_LIMIT = 4 << 30  # bytes of address space per test run


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(
    target: Path,
    tests: list[str],
    mutants: list[tuple[str, str]],
    only: str = "",
    time_limit: float = TIME_LIMIT,
) -> int:
    """Try every mutant whose old text holds ``only``; returns 1 if any survived."""
    src = target.read_text()
    survived = 0
    chosen = [(old, new) for old, new in mutants if only in old]
    try:
        for old, new in chosen:
            if old not in src:
                print("NOT FOUND (the code changed: update this list):", old.strip()[:70])
                survived += 1
                continue
            at = src.index(old)
            if old.startswith("    ") and at and src[at - 1] != "\n":
                # an indented line found inside a more indented one: the mutant would change
                # another line than meant (or leave code that still works)
                print("NOT AT A LINE START (update this list):", old.strip()[:70])
                survived += 1
                continue
            target.write_text(src.replace(old, new, 1))
            try:
                r = subprocess.run(
                    [sys.executable, "-m", "pytest", *tests, "-q", "-x", "-p", "no:cacheprovider"],
                    cwd=ROOT,
                    capture_output=True,
                    timeout=time_limit,
                    preexec_fn=_limit_memory,
                )
                killed = r.returncode != 0
            except subprocess.TimeoutExpired:
                killed = True
            survived += not killed
            print("killed  " if killed else "SURVIVED", old.strip()[:70], flush=True)
    finally:
        target.write_text(src)
    print(f"{len(chosen) - survived} of {len(chosen)} mutants killed")
    return 1 if survived else 0
