"""The textbook network on the harder pair, MNIST 3 vs 7, all 400 embedded training images per digit.

    python examples/mnist37.py        # profile from $BRIDGE_DEVICE, else "aer"

The model and loop are those of mnist01.py; `qml-bridge train mnist37` is the same run with checkpoints.
"""

from mnist01 import main, quantum_layer  # the same model: verify --model examples/mnist37.py:quantum_layer

__all__ = ["main", "quantum_layer"]

if __name__ == "__main__":
    main(digits=(3, 7), per_class=400)
