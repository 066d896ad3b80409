"""The MNIST loader: shapes, ranges, checksums, and one clear error per kind of bad file."""
import gzip

import numpy as np
import pytest

import helpers
from vae_mnist.core.data import FILES, load_dataset, resolve_data_dir
from vae_mnist.errors import DataError


def test_full_mnist_has_the_papers_shapes_and_range():
    d = helpers.mnist()
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert d.x_train.dtype == np.float32 and d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    # The first training image of MNIST is a 5, the first test image a 7.
    assert d.y_train[0] == 5 and d.y_test[0] == 7


def _copy(tmp_path):
    return helpers.copy_mnist_files(tmp_path / "mnist")


def test_raw_idx_files_are_accepted(tmp_path):
    folder = _copy(tmp_path)
    stem = FILES["y_test"]
    (folder / stem).write_bytes(gzip.decompress((folder / f"{stem}.gz").read_bytes()))
    (folder / f"{stem}.gz").unlink()
    d = load_dataset("mnist", folder)
    np.testing.assert_array_equal(d.y_test, helpers.mnist().y_test)


def test_corrupted_file_is_refused_naming_the_file(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "checksum" in msg and "\n" not in msg


def test_truncated_file_is_refused_naming_the_file(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: 1_000_000])
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "truncated" in msg and "\n" not in msg


def test_truncated_raw_file_is_refused(tmp_path):
    folder = _copy(tmp_path)
    stem = "t10k-images-idx3-ubyte"
    raw = gzip.decompress((folder / f"{stem}.gz").read_bytes())
    (folder / f"{stem}.gz").unlink()
    (folder / stem).write_bytes(raw[:-784])
    with pytest.raises(DataError, match=stem):
        load_dataset("mnist", folder)


def test_missing_file_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.*missing"):
        load_dataset("mnist", folder)


def test_data_folder_comes_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MNIST_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir(tmp_path) == tmp_path
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")
    monkeypatch.setenv("VAE_MNIST_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="VAE_MNIST_DATA_DIR"):
        resolve_data_dir(None)
    monkeypatch.delenv("VAE_MNIST_DATA_DIR")
    assert resolve_data_dir(None) is None  # falls back to keras.datasets.mnist
