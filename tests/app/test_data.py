"""The data loader on the embedded real files, on a user root, and on missing or corrupt files."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from bridge.app.data import embedded_root, load_split, prepare_root
from bridge.exceptions import DataError


def test_embedded_mnist_01_counts_labels_and_pixels():
    train = load_split("MNIST", train=True, classes=(0, 1), per_class=100)
    test = load_split("MNIST", train=False, classes=(0, 1), per_class=100)
    assert (len(train), len(test)) == (200, 200)
    labels = torch.tensor([train[i][1] for i in range(len(train))])
    assert labels.bincount().tolist() == [100, 100]
    image, _ = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.5


def test_relabelling_follows_the_class_order():
    subset = load_split("MNIST", train=False, classes=(7, 3), per_class=5)
    originals = subset.dataset.targets[subset.indices].tolist()
    relabelled = [subset[i][1] for i in range(len(subset))]
    assert {o: r for o, r in zip(originals, relabelled, strict=True)} == {7: 0, 3: 1}


def test_embedded_fashion_mnist():
    test = load_split("FashionMNIST", train=False, classes=(0, 1), per_class=100)
    assert len(test) == 200


def test_asking_for_more_than_embedded_is_an_error():
    with pytest.raises(DataError, match="has 100 images of class 1, 101 requested"):
        load_split("MNIST", train=False, classes=(1,), per_class=101)


def _copy_raw(tmp_path, name="MNIST"):
    raw = tmp_path / name / "raw"
    shutil.copytree(embedded_root() / name / "raw", raw)
    return raw


def test_user_root_with_gzip_files_is_expanded_into_the_cache_not_into_the_root(tmp_path):
    raw = _copy_raw(tmp_path)
    before = sorted(p.name for p in raw.iterdir())
    target = prepare_root("MNIST", tmp_path)
    assert target != tmp_path and (target / "MNIST/raw/train-images-idx3-ubyte").is_file()
    assert sorted(p.name for p in raw.iterdir()) == before  # nothing written into the user's dataset folder
    assert len(load_split("MNIST", train=True, classes=(5,), per_class=None, root=tmp_path)) == 400


def test_user_root_with_plain_files_is_read_in_place(tmp_path):
    raw = _copy_raw(tmp_path)
    for gz in raw.glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert prepare_root("MNIST", tmp_path) == tmp_path


def test_missing_file_is_named(tmp_path):
    raw = _copy_raw(tmp_path)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\) is missing"):
        prepare_root("MNIST", tmp_path)


def test_truncated_file_is_named(tmp_path):
    raw = _copy_raw(tmp_path)
    data = gzip.decompress((raw / "train-images-idx3-ubyte.gz").read_bytes())
    (raw / "train-images-idx3-ubyte.gz").unlink()
    (raw / "train-images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte is truncated or corrupt: header says 4000"):
        prepare_root("MNIST", tmp_path)


def test_wrong_magic_is_named(tmp_path):
    raw = _copy_raw(tmp_path)
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte is not an IDX images file"):
        prepare_root("MNIST", tmp_path)


def test_corrupt_gzip_is_named(tmp_path):
    raw = _copy_raw(tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=r"cannot decompress .*train-labels-idx1-ubyte.gz"):
        prepare_root("MNIST", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'CIFAR'"):
        prepare_root("CIFAR")
