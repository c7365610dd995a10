"""The examples that are not image classifiers: each module has one ``run(config) -> metrics`` entry point.

``calculator`` (learn a + b), ``hello`` (one-qubit rotation, optimizers and gradient methods compared),
``qaoa`` (max-cut trained with PyTorch optimizers) and ``meta`` (a recurrent network that learns to
optimize a rotation). ``qml-bridge train NAME`` calls them with the same options as the image examples.
"""
