"""Shared helpers for the core tests: where the data is, and a cached tiny data set."""
import functools
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SHARED = ROOT.parent / "shared" / "data" / "mnist"
DATA_DIR = Path(os.environ.get("VAE_MNIST_DATA_DIR") or _SHARED)
os.environ["VAE_MNIST_DATA_DIR"] = str(DATA_DIR)


@functools.lru_cache(maxsize=None)
def mnist():
    from vae_mnist.data import load_dataset

    return load_dataset("mnist", DATA_DIR)


def tiny(train=1000, test=200):
    return mnist().subset(train, test)


def copy_mnist_files(folder: Path) -> Path:
    """A private copy of the four MNIST files in ``folder`` (to damage in a test)."""
    import shutil

    from vae_mnist.data import FILES

    folder.mkdir(parents=True, exist_ok=True)
    for stem in FILES.values():
        shutil.copy(DATA_DIR / f"{stem}.gz", folder / f"{stem}.gz")
    return folder
