"""MNIST and Fashion-MNIST through torchvision's own dataset classes, on the embedded subset or any root.

The package embeds real subsets in torchvision's layout (``<root>/<Name>/raw/*-idx?-ubyte.gz``; see
``bridge/embedded/PROVENANCE.md``): MNIST 400 train + 100 test images per digit, Fashion-MNIST 500 train +
100 test per class. torchvision reads the *uncompressed* IDX files, so gzip files are expanded next to
them (for the embedded copy, into a user cache folder) before the dataset class is built.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import Subset
from torchvision import datasets, transforms

from bridge.exceptions import BridgeError, DataError
from bridge.validate import check_cache_folder, write_refused

DATASETS = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST}
_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MAGIC = {"images": 2051, "labels": 2049}
IMAGE_SIZE = (28, 28)  # MNIST and Fashion-MNIST


def embedded_root() -> Path:
    """Folder of the embedded gzip files (read-only inside an installed package)."""
    return Path(str(resources.files("bridge") / "embedded"))


def cache_root() -> Path:
    """Where gzip files are expanded: ``$QML_BRIDGE_CACHE`` (which must be a writable folder), else
    ``$XDG_CACHE_HOME/qml-bridge/data``, else — when that cannot be written — a temporary folder of this process
    (with a warning: the files are expanded again next time).

    Raises:
        DataError: ``QML_BRIDGE_CACHE`` names a file or a folder that cannot be written.
    """
    if os.environ.get("QML_BRIDGE_CACHE") is not None:
        chosen = Path(os.environ["QML_BRIDGE_CACHE"])
        try:
            check_cache_folder(chosen)
        except BridgeError as e:
            raise DataError(str(e)) from None
        return chosen
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qml-bridge" / "data"
    reason = write_refused(base, create=True)
    if reason is None:
        return base
    fallback = Path(tempfile.gettempdir()) / f"qml-bridge-data-{os.getpid()}"
    warnings.warn(
        f"the data cache {base} cannot be written ({reason}); expanding the data into {fallback} "
        "for this run (set QML_BRIDGE_CACHE to a writable folder to keep it)",
        stacklevel=2,
    )
    return fallback


def prepare_root(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Return a root folder where ``torchvision.datasets.<name>`` finds uncompressed IDX files.

    The user's ``root`` is only read: when it holds all four plain IDX files it is returned as it is; otherwise
    its files are expanded (gzip) or linked (plain) into a folder of the cache (:func:`cache_root`) named after
    the root's absolute path.

    Args:
        name: ``"MNIST"`` or ``"FashionMNIST"``.
        root: a folder holding ``<name>/raw/`` (gzip or plain IDX files), or ``None`` for the embedded
            subset.

    Raises:
        DataError: a required file is missing from ``root`` or is not a valid IDX file, or the files of a split
            disagree (image and label counts, image size).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    source = Path(root).expanduser() if root is not None else embedded_root()
    raw_src = source / name / "raw"
    stems = [stem for train in (True, False) for stem in _FILES[train]]
    if root is not None and all((raw_src / stem).is_file() for stem in stems):
        target = source
    elif root is None:
        target = cache_root()
    else:
        # the root's path and its files' sizes and times: replaced files are expanded again, never read stale
        stamp = [str(source.resolve())] + [
            f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(raw_src.glob("*")) if f.is_file()
        ]
        digest = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
        target = cache_root() / "roots" / digest
    raw_dst = target / name / "raw"
    for stem in stems:
        plain = raw_dst / stem
        if plain.is_file():
            continue
        if root is not None and (raw_src / stem).is_file():
            raw_dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(raw_src / stem, plain)
            continue
        gz = raw_src / f"{stem}.gz"
        if not gz.is_file():
            raise DataError(
                f"dataset file {raw_src / stem} (or {gz.name}) is missing; expected "
                f"torchvision's layout <root>/{name}/raw/{stem}[.gz]"
            )
        _gunzip_atomic(gz, plain)

    def shown(stem: str) -> Path:  # messages name the user's file, not the cache's copy of it
        if root is None:
            return raw_dst / stem
        return raw_src / stem if (raw_src / stem).is_file() else raw_src / f"{stem}.gz"

    for train in (True, False):
        images, labels = _FILES[train]
        count, rows, cols = _check_idx(raw_dst / images, shown(images))
        labelled, _, _ = _check_idx(raw_dst / labels, shown(labels))
        if count != labelled:
            raise DataError(
                f"{shown(images)} holds {count} images but {shown(labels).name} holds {labelled} labels; the two "
                "files of a split must match: replace them with the original pair"
            )
        if (rows, cols) != IMAGE_SIZE:
            raise DataError(
                f"{shown(images)} holds images of {rows}×{cols} pixels; {name}'s are {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]}: "
                "replace it with the original file"
            )
    return target


def _gunzip_atomic(gz: Path, plain: Path) -> None:
    plain.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=plain.parent, prefix=f".{plain.name}.")
    try:
        with gzip.open(gz, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, plain)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(f"cannot decompress {gz}: {e}; replace it with a valid gzip IDX file") from e


def _check_idx(path: Path, shown: Path | None = None) -> tuple[int, int, int]:
    """Check the IDX header (magic number, dimensions) against the file size; returns ``(count, rows, cols)``
    (rows and cols 1 for a labels file). Messages name ``shown`` (the file the user gave) where it differs."""
    name = shown or path
    kind = "images" if "images" in path.name else "labels"
    size = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(16 if kind == "images" else 8)
    expected = _MAGIC[kind]
    magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if magic != expected or len(header) < (16 if kind == "images" else 8):
        raise DataError(
            f"{name} is not an IDX {kind} file (magic number {magic}, expected {expected}); "
            "replace it with the original file"
        )
    count = int.from_bytes(header[4:8], "big")
    rows, cols = (
        (int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")) if kind == "images" else (1, 1)
    )
    per_item = rows * cols
    if size != len(header) + count * per_item:
        raise DataError(
            f"{name} is truncated or corrupt: header says {count} {kind} "
            f"({len(header) + count * per_item} bytes), file has {size} bytes"
        )
    return count, rows, cols


def load_split(
    name: str, *, train: bool, classes: Sequence[int], per_class: int | None, root: str | os.PathLike[str] | None = None
) -> Subset:
    """The first ``per_class`` images of each of ``classes``, relabelled ``0..len(classes)-1``.

    Images are ``(1, 28, 28)`` float tensors in [0, 1] (``transforms.ToTensor``), in dataset order,
    as the Qiskit textbook selects them.

    Args:
        name: ``"MNIST"`` or ``"FashionMNIST"``.
        train: the training split (else the test split).
        classes: original labels to keep, e.g. ``(0, 1)``.
        per_class: images per class, ``None`` for all.
        root: see :func:`prepare_root`.

    Raises:
        DataError: missing or corrupt files, or fewer images of a class than requested.
    """
    dataset = DATASETS[name](
        root=str(prepare_root(name, root)),
        train=train,
        download=False,
        transform=transforms.ToTensor(),
        target_transform=_Relabel(classes),
    )
    targets = dataset.targets
    indices: list[int] = []
    for label in classes:
        found = torch.nonzero(targets == label).flatten().tolist()
        if per_class is not None:
            if len(found) < per_class:
                split = "train" if train else "test"
                raise DataError(
                    f"{name} {split} split has {len(found)} images of class {label}, "
                    f"{per_class} requested; lower the count or use --data-root with more data"
                )
            found = found[:per_class]
        indices.extend(found)
    return Subset(dataset, sorted(indices))


class _Relabel:
    """Map original labels to ``0..k-1`` in the order given (a picklable target transform)."""

    def __init__(self, classes: Sequence[int]) -> None:
        self.mapping = {int(c): i for i, c in enumerate(classes)}

    def __call__(self, label: int) -> int:
        return self.mapping[int(label)]
