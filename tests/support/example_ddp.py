"""examples/mnist01.py's main() on a small share of the data, as torchrun starts it (tests/app/test_distributed.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import mnist01  # noqa: E402

mnist01.main(epochs=1, per_class=10, test_per_class=5)
