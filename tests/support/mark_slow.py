"""Write ``tests/slow_tests.txt``: the tests whose setup + call + teardown took at least ``--seconds`` in a run of
``pytest --durations=0`` (its output saved to a file). ``pytest -m "not slow"`` then leaves them out.

    .venv/bin/python -m pytest --durations=0 | tee durations.txt
    .venv/bin/python tests/support/mark_slow.py durations.txt --seconds 5
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+)")


def slow_ids(text: str, seconds: float) -> list[str]:
    """Node ids whose phases add up to at least ``seconds``; a parametrized test counts per parameter set."""
    total: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            total[match.group(3)] += float(match.group(1))
    return sorted(node for node, spent in total.items() if spent >= seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("durations", type=Path, help="saved output of pytest --durations=0")
    parser.add_argument("--seconds", type=float, default=5.0, help="a test at least this long is slow (default 5)")
    args = parser.parse_args()
    ids = slow_ids(args.durations.read_text(), args.seconds)
    target = Path(__file__).parents[1] / "slow_tests.txt"
    target.write_text("".join(f"{node}\n" for node in ids))
    print(f"{len(ids)} slow tests written to {target}")


if __name__ == "__main__":
    main()
