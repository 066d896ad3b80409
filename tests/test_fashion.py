"""Fashion-MNIST goes through the same verified loader: a file with the wrong checksum is refused."""
import gzip

import pytest

import helpers
from vae_mnist.core.data import FILES, checksums, load_dataset
from vae_mnist.errors import DataError


def _folder_of_mnist_files(tmp_path):
    return helpers.copy_mnist_files(tmp_path / "fashion")


def test_fashion_checksums_are_their_own():
    fashion, mnist = checksums("fashion-mnist"), checksums("mnist")
    assert set(fashion) == set(FILES.values())
    assert all(len(v) == 64 for v in fashion.values())
    assert not set(fashion.values()) & set(mnist.values())


def test_a_fashion_file_with_the_wrong_checksum_is_refused_in_one_line(tmp_path):
    # Valid IDX files with the right names but the wrong content (MNIST's): refused by checksum.
    folder = _folder_of_mnist_files(tmp_path)
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", folder)
    msg = str(err.value)
    assert "checksum" in msg and "-idx" in msg and str(folder) in msg and "\n" not in msg


def test_a_modified_fashion_file_is_refused_through_the_environment(tmp_path, monkeypatch):
    folder = _folder_of_mnist_files(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv("VAE_MNIST_FASHION_DATA_DIR", str(folder))
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert "checksum" in msg and "\n" not in msg


def test_the_cli_reports_a_wrong_fashion_file_in_one_line(tmp_path, capsys):
    from vae_mnist.cli.main import main

    folder = _folder_of_mnist_files(tmp_path)
    code = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(folder), "--epochs", "1",
                 "--train-subset", "10", "--test-subset", "10"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("vae-mnist: error:") and "checksum" in err and "\n" not in err
