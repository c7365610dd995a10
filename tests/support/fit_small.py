"""A small mnist10 run through bridge.app.train.fit, as a user's script would start it (also under torchrun).

    python tests/support/fit_small.py OUT BATCH [PROFILE [TORCH_DEVICE]]
    torchrun --standalone --nproc-per-node 2 tests/support/fit_small.py OUT BATCH [PROFILE [TORCH_DEVICE]]

80 training images (8 per digit), 20 test images, one epoch, no progress bar; mnist10's network has no dropout,
so one process with batch 2b and two ranks with batch b see the same samples per step.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from bridge.app.registry import TASKS
from bridge.app.train import TrainConfig, fit
from bridge.profiles import load_profile


def main() -> None:
    out, batch = Path(sys.argv[1]), int(sys.argv[2])
    profile = sys.argv[3] if len(sys.argv) > 3 else "aer"
    torch_device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    task = dataclasses.replace(TASKS["mnist10"], train_per_class=8, test_per_class=2)
    config = TrainConfig(
        profile=load_profile(profile).with_seed(7),
        epochs=1,
        seed=7,
        batch_size=batch,
        out=out,
        progress=False,
        torch_device=torch_device,
    )
    fit(task, config)


if __name__ == "__main__":
    main()
