"""MNIST and Fashion-MNIST through torchvision's own dataset classes, on the embedded subset or any root.

The package embeds real subsets in torchvision's layout (``<root>/<Name>/raw/*-idx?-ubyte.gz``; see
``bridge/app/embedded/PROVENANCE.md``): MNIST 400 train + 100 test images per digit, Fashion-MNIST 500 train +
100 test per class. torchvision reads the *uncompressed* IDX files, so gzip files are expanded next to
them (for the embedded copy, into a user cache folder) before the dataset class is built.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import tempfile
import warnings
import zlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import torch
from torch.utils.data import Subset
from torchvision import datasets, transforms

from bridge.app.validate import check_cache_folder, write_refused
from bridge.exceptions import BridgeError, DataError

DATASETS = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST}
_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MAGIC = {"images": 2051, "labels": 2049}
_HEADER = {"images": 16, "labels": 8}  # magic, count, and rows and columns for images: 4 bytes each
IMAGE_SIZE = (28, 28)  # MNIST and Fashion-MNIST
# the most items a file of each split may announce: MNIST's and Fashion-MNIST's full splits (the files torchvision
# reads are at most 16 + 60,000 × 784 bytes: 47 MB)
MAX_COUNT = {"train": 60_000, "t10k": 10_000}
CHUNK = 1 << 20  # bytes read and written at a time while expanding a file into the cache
# a write into the cache failed for want of room (no space, a quota, a file-size limit)
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def embedded_root() -> Path:
    """Folder of the embedded gzip files (read-only inside an installed package)."""
    return Path(str(resources.files("bridge.app") / "embedded"))


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

    The user's ``root`` is only read: when it holds all four plain IDX files (and no ``<name>/processed`` folder,
    whose legacy ``.pt`` files torchvision would load instead) it is returned as it is; otherwise its files are
    expanded (gzip) or copied (plain) into a folder of the cache (:func:`cache_root`) named after the root's
    absolute path. Every file's header is checked before its data is read, and no file larger than its header
    announces is written or read (:func:`_expand_atomic`, :func:`_check_idx`), so memory and disk stay bounded by
    the dataset's size (:data:`MAX_COUNT`) whatever a file holds.

    Args:
        name: ``"MNIST"`` or ``"FashionMNIST"``.
        root: a folder holding ``<name>/raw/`` (gzip or plain IDX files), or ``None`` for the embedded
            subset.

    Raises:
        DataError: a required file is missing from ``root`` or is not a valid IDX file (magic number, image size,
            more items than the dataset has, more or fewer bytes than its header announces), the files of a split
            disagree (image and label counts), or the cache has no room for the expanded files.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    source = Path(root).expanduser() if root is not None else embedded_root()
    raw_src = source / name / "raw"
    stems = [stem for train in (True, False) for stem in _FILES[train]]
    in_place = all((raw_src / stem).is_file() for stem in stems) and not (source / name / "processed").exists()
    if root is not None and in_place:
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
            _expand_atomic(raw_src / stem, plain, name)
            continue
        gz = raw_src / f"{stem}.gz"
        if not gz.is_file():
            raise DataError(
                f"dataset file {raw_src / stem} (or {gz.name}) is missing; expected "
                f"torchvision's layout <root>/{name}/raw/{stem}[.gz]"
            )
        _expand_atomic(gz, plain, name)

    def shown(stem: str) -> Path:  # messages name the user's file, not the cache's copy of it
        if root is None:
            return raw_dst / stem
        return raw_src / stem if (raw_src / stem).is_file() else raw_src / f"{stem}.gz"

    for train in (True, False):
        images, labels = _FILES[train]
        count = _check_idx(raw_dst / images, name, shown(images))
        labelled = _check_idx(raw_dst / labels, name, shown(labels))
        if count != labelled:
            raise DataError(
                f"{shown(images)} holds {count} images but {shown(labels).name} holds {labelled} labels; the two "
                "files of a split must match: replace them with the original pair"
            )
    return target


def _expand_atomic(source: Path, plain: Path, dataset: str) -> None:
    """Expand ``source`` (gzip, or a plain IDX file copied as it is) into the cache file ``plain``, bounded by its
    header.

    The header is read and checked first (:func:`_check_header`); then the data is copied in :data:`CHUNK` pieces
    and the copy stops as soon as it exceeds the size the header announces, so neither memory nor the cache takes
    more than the dataset's largest file whatever ``source`` expands to. The file appears under its name only when
    complete and valid; on any failure the temporary file is removed.

    Raises:
        DataError: ``source`` cannot be read, is not valid gzip or not a valid IDX file, or holds more or fewer
            bytes than its header announces (the message names ``source``); or the cache has no room, or cannot be
            written (the message names the cache folder and how to give it room).
    """
    kind = "images" if "images" in plain.name else "labels"
    opener = gzip.open if source.suffix == ".gz" else open
    try:
        src = opener(source, "rb")
    except OSError as e:
        raise DataError(f"cannot read {source} ({e.strerror or e}); check that it is a readable file") from e
    with src:
        header = _read(src, _HEADER[kind], source)
        count = _check_header(header, plain.name, dataset, source)
        try:
            plain.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=plain.parent, prefix=f".{plain.name}.")
        except OSError as e:
            raise _cache_error(plain, source, e) from e
        try:
            try:
                _write(fd, header, plain, source)
                _copy_bounded(src, fd, count * _item_bytes(header, kind), (plain, source, kind, header))
            finally:
                os.close(fd)
            os.replace(tmp, plain)
        except OSError as e:  # the cache's side: the source's read errors are DataError already
            raise _cache_error(plain, source, e) from e
        finally:
            Path(tmp).unlink(missing_ok=True)


def _copy_bounded(src: BinaryIO, fd: int, remaining: int, what: tuple[Path, Path, str, bytes]) -> None:
    """Copy from ``src`` to ``fd`` exactly ``remaining`` bytes, refusing a source that holds more or fewer."""
    plain, source, kind, header = what
    count, written = int.from_bytes(header[4:8], "big"), 0
    while True:
        chunk = _read(src, min(CHUNK, remaining - written + 1), source)
        if not chunk:
            break
        if written + len(chunk) > remaining:
            raise _size_error(source, count, kind, len(header) + remaining, None)
        _write(fd, chunk, plain, source)
        written += len(chunk)
    if written < remaining:
        raise _size_error(source, count, kind, len(header) + remaining, len(header) + written)


def _read(src: BinaryIO, size: int, source: Path) -> bytes:
    """Up to ``size`` bytes of ``src``; a read or decompression failure blames the data file."""
    try:
        return src.read(size)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        action, valid = ("decompress", "gzip IDX") if source.suffix == ".gz" else ("read", "IDX")
        raise DataError(f"cannot {action} {source}: {e}; replace it with a valid {valid} file") from e


def _write(fd: int, data: bytes, plain: Path, source: Path) -> None:
    """Write all of ``data`` to ``fd`` (a file of the cache)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError as e:
            raise _cache_error(plain, source, e) from e


def _cache_error(plain: Path, source: Path, error: OSError) -> DataError:
    """A failure to write ``plain`` into the cache: names the cache folder and how to give it room."""
    reason = error.strerror or str(error)
    if error.errno in _NO_ROOM:
        return DataError(
            f"no room in the data cache {plain.parent} for {plain.name} (expanded from {source}): {reason}; "
            "free space there or set QML_BRIDGE_CACHE to a folder with room (the full MNIST needs about 55 MB)"
        )
    return DataError(
        f"cannot write {plain.name} into the data cache {plain.parent} ({reason}); "
        "check that folder or set QML_BRIDGE_CACHE to a writable folder with room"
    )


def _item_bytes(header: bytes, kind: str) -> int:
    """Bytes per item the header announces: rows × columns for images, 1 for labels."""
    if kind == "labels":
        return 1
    return int.from_bytes(header[8:12], "big") * int.from_bytes(header[12:16], "big")


def _check_header(header: bytes, stem: str, dataset: str, name: Path) -> int:
    """Check an IDX header (magic number, image size, count within the dataset's split); returns the count.

    Messages name ``name`` (the file the user gave).
    """
    kind = "images" if "images" in stem else "labels"
    expected = _MAGIC[kind]
    magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if magic != expected or len(header) < _HEADER[kind]:
        raise DataError(
            f"{name} is not an IDX {kind} file (magic number {magic}, expected {expected}); "
            "replace it with the original file"
        )
    count = int.from_bytes(header[4:8], "big")
    split = stem.split("-")[0]
    if count > MAX_COUNT[split]:
        raise DataError(
            f"{name} announces {count:,} {kind}; {dataset}'s {split} files hold at most {MAX_COUNT[split]:,}: "
            "replace it with the original file"
        )
    if kind == "images":
        rows, cols = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
        if (rows, cols) != IMAGE_SIZE:
            raise DataError(
                f"{name} holds images of {rows}×{cols} pixels; {dataset}'s are {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]}: "
                "replace it with the original file"
            )
    return count


def _size_error(name: Path, count: int, kind: str, expected: int, size: int | None) -> DataError:
    """A file whose size is not the ``expected`` one its header announces: ``size`` bytes, or more (``None``)."""
    if size is None:
        return DataError(
            f"{name} holds more than the {expected:,} bytes its header announces ({count} {kind}); "
            "replace it with the original file"
        )
    return DataError(
        f"{name} is truncated or corrupt: header says {count} {kind} ({expected:,} bytes), file has {size:,} bytes; "
        "replace it with the original file"
    )


def _check_idx(path: Path, dataset: str, shown: Path | None = None) -> int:
    """Check an uncompressed IDX file's header (:func:`_check_header`) against its size, reading only the header;
    returns the count. Messages name ``shown`` (the file the user gave) where it differs."""
    name = shown or path
    kind = "images" if "images" in path.name else "labels"
    with path.open("rb") as f:
        header = f.read(_HEADER[kind])
    count = _check_header(header, path.name, dataset, name)
    expected = len(header) + count * _item_bytes(header, kind)
    size = path.stat().st_size
    if size != expected:
        raise _size_error(name, count, kind, expected, None if size > expected else size)
    return count


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
