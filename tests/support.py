"""Shared helpers for the core tests: where the data is, and a cached tiny data set.

The tests find MNIST the way the package does: ``VAE_MNIST_DATA_DIR`` when it is set (``.ci/run``
and ``make test`` point it at ``../shared/data/mnist``), else Keras's own download and cache. No
test assumes a ``../shared`` folder beside the clone.
"""
import functools
import gzip
import os
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR: Optional[Path] = Path(os.environ["VAE_MNIST_DATA_DIR"]) if os.environ.get("VAE_MNIST_DATA_DIR") else None


def data_env(env=None) -> dict:
    """A copy of ``env`` (default: this process's environment) for a subprocess that finds the data like we do."""
    e = dict(os.environ if env is None else env)
    if DATA_DIR is not None:
        e["VAE_MNIST_DATA_DIR"] = str(DATA_DIR)
    else:
        e.pop("VAE_MNIST_DATA_DIR", None)
    return e


@functools.lru_cache(maxsize=None)
def mnist():
    from vae_mnist.core.data import load_dataset

    return load_dataset("mnist", DATA_DIR)


def tiny(train=1000, test=200):
    return mnist().subset(train, test)


def idx_bytes(array) -> bytes:
    """``array`` (uint8) as an IDX file."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def copy_mnist_files(folder: Path) -> Path:
    """A private copy of the four MNIST files in ``folder`` (to damage in a test).

    Copied from the data folder when there is one; else written back from the arrays Keras
    downloaded (the same bytes as the official files, so the package's checksums hold).
    """
    import shutil

    import numpy as np

    from vae_mnist.core.data import FILES

    folder.mkdir(parents=True, exist_ok=True)
    if DATA_DIR is not None and all((DATA_DIR / f"{stem}.gz").is_file() for stem in FILES.values()):
        for stem in FILES.values():
            shutil.copy(DATA_DIR / f"{stem}.gz", folder / f"{stem}.gz")
        return folder
    d = mnist()
    arrays = {"x_train": np.rint(d.x_train * 255).reshape(-1, 28, 28), "y_train": d.y_train,
              "x_test": np.rint(d.x_test * 255).reshape(-1, 28, 28), "y_test": d.y_test}
    for key, stem in FILES.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(arrays[key]), compresslevel=1))
    return folder
