"""The application layer: the qml-bridge command, its examples, data, models, training, checkpoints and
figures. It imports the library (the rest of ``bridge``); nothing there imports it."""
