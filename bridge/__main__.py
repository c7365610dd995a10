"""``python -m bridge`` is the ``qml-bridge`` command."""

import sys

from bridge.app.cli import main

sys.exit(main())
