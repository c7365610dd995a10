"""Device profiles shipped with qml-bridge: data only (the ``*.toml`` files beside this one)."""
