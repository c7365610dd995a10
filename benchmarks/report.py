"""The benchmarks' tables in ``docs/benchmarks.md``, generated: each script writes its block between
``<!-- NAME -->`` and ``<!-- /NAME -->`` with the commit that measured it and the command, and a note that is
either "current" or the list of files of ``bridge/``, ``devices/`` and ``benchmarks/`` changed since
(``tests/project/test_benchmarks_fresh.py`` fails when the note in the docs differs from git's)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
MEASURED = ["bridge", "devices", "benchmarks/run.py", "benchmarks/noise.py", "benchmarks/aer_rows.py"]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()


def current_commit() -> str:
    """The checkout's commit (12 hex digits); refused when the measured code has uncommitted changes."""
    if git("status", "--porcelain", "--", *MEASURED):
        raise SystemExit("commit bridge/, devices/ and benchmarks/ first: the tables name the commit that measured it")
    return git("rev-parse", "--short=12", "HEAD")


def stale_note(commit: str) -> str:
    """ "Current" or the files of the measured code changed between ``commit`` and the working tree."""
    changed = git("diff", "--name-only", "--no-renames", commit, "--", *MEASURED).splitlines()
    if not changed:
        return f"Current: no file of `bridge/`, `devices/` or the benchmark scripts changed since {commit}."
    return f"**Stale**: changed since {commit} (rerun): " + ", ".join(f"`{n}`" for n in sorted(changed)) + "."


def _span(content: str, name: str) -> tuple[int, int]:
    """Where block ``name``'s body starts and ends in ``content``."""
    opening = f"<!-- {name} -->\n"
    return content.index(opening) + len(opening), content.index(f"<!-- /{name} -->")


def block(name: str, doc: Path = DOC) -> str:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in ``doc``."""
    content = doc.read_text()
    start, end = _span(content, name)
    return content[start:end]


def write_block(name: str, commit: str, command: str, tables: str, doc: Path = DOC) -> None:
    """Replace block ``name`` of ``doc`` with the tables, the commit and command above, the stale note below."""
    content = doc.read_text()
    start, end = _span(content, name)
    body = f"Measured on commit {commit} with `{command}`.\n\n{tables.strip()}\n\n{note_line(name, commit)}\n"
    doc.write_text(content[:start] + body + content[end:])


def note_line(name: str, commit: str) -> str:
    return f"<!-- {name}-note -->{stale_note(commit)}<!-- /{name}-note -->"


RESULTS = {
    "benchmark-tables": "results.json",
    "noise-table": "noise.json",
    "aer-rows-table": "aer_rows.json",
    "step-overhead-table": "step_overhead.json",
}


def refresh_notes(doc: Path = DOC) -> None:
    """Rewrite every block's note from its results file's commit, leaving the tables as they are."""
    content = doc.read_text()
    for name, file in RESULTS.items():
        commit = json.loads((ROOT / "benchmarks" / file).read_text())["commit"]
        pattern = re.compile(rf"<!-- {name}-note -->.*<!-- /{name}-note -->")
        content = pattern.sub(lambda _m, n=name, c=commit: note_line(n, c), content)
    doc.write_text(content)


if __name__ == "__main__":
    refresh_notes()
