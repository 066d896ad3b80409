"""MNIST (and Fashion-MNIST) as float32 in [0, 1], flattened to 784, with integer labels.

Where the data comes from, in order:

1. a folder given explicitly (``--data-dir``, ``data_dir=``);
2. the environment: ``VAE_MNIST_DATA_DIR`` for MNIST, ``VAE_MNIST_FASHION_DATA_DIR`` for
   Fashion-MNIST (which also looks in Debian's ``/usr/share/datasets/fashion-mnist``);
3. Keras's own download and cache (``keras.datasets.mnist`` / ``fashion_mnist``).

A folder holds the four IDX files, gzip'd or raw. Every file is checked against the
SHA-256 of the official *decompressed* file before any array is built, so a missing,
truncated, corrupt or substituted file stops with one line naming the file.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import threading
import zlib
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError
from .. import settings

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
ENV_VARS = {"mnist": settings.DATA_DIR, "fashion-mnist": settings.FASHION_DATA_DIR}
SYSTEM_DIRS = {"fashion-mnist": ["/usr/share/datasets/fashion-mnist"]}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


@dataclasses.dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    #: ``none`` (grey levels) or ``dynamic`` (test set binarized once; training images stay grey
    #: and the training loop re-draws them as Bernoulli samples every time it uses them).
    binarize: str = "none"

    @property
    def class_names(self):
        return CLASS_NAMES[self.name]

    def subset(self, train: Optional[int] = None, test: Optional[int] = None) -> "Dataset":
        """The first ``train`` training and ``test`` test images (``None`` keeps all)."""
        tr = slice(None) if train is None else slice(0, train)
        te = slice(None) if test is None else slice(0, test)
        return Dataset(self.name, self.x_train[tr], self.y_train[tr], self.x_test[te],
                       self.y_test[te], self.source, self.binarize)

    def binarized(self, scheme: str = "dynamic") -> "Dataset":
        """This data set for a run with binarization ``scheme``.

        ``dynamic``: the test images become binary once, each pixel 1 with probability equal to
        its intensity, drawn with the fixed seed :data:`TEST_BINARIZATION_SEED` over the whole
        test set (so every model, and every test subset, is scored on the same binary images).
        The training images stay grey: the training loop draws new binary versions every epoch.
        """
        if scheme == "none" or scheme == self.binarize:
            return self
        if scheme != "dynamic" or self.binarize != "none":
            raise DataError(f"cannot binarize a {self.binarize!r} data set with {scheme!r}")
        return dataclasses.replace(self, x_test=binarize_test_images(self.x_test), binarize=scheme)


#: Seed of the one fixed binarization of the test set (the same binary test images for every run).
TEST_BINARIZATION_SEED = 20160501


def binarize_test_images(x: np.ndarray, seed: int = TEST_BINARIZATION_SEED) -> np.ndarray:
    """``x`` (intensities in [0, 1]) as binary images: each pixel 1 with probability its intensity.

    The uniform draws depend only on ``seed`` and the position of a pixel in ``x``, so the first
    N images come out the same whether or not the rest are binarized with them.
    """
    u = np.random.default_rng(seed).random(x.shape, dtype=np.float32)
    return (u < x).astype("float32")


def checksums(dataset: str = "mnist") -> dict:
    """The SHA-256 of each official decompressed file, kept in the package."""
    text = resources.files(__package__).joinpath("checksums.json").read_text()
    return json.loads(text)[dataset]


def resolve_data_dir(data_dir=None, dataset: str = "mnist") -> Optional[Path]:
    """The folder to read, or ``None`` to fall back to Keras's download."""
    if data_dir is not None and str(data_dir) != "":
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise DataError(f"data folder {str(path)!r} does not exist or is not a folder")
        return path
    env = settings.text(ENV_VARS[dataset])
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"data folder {env!r} (from {ENV_VARS[dataset]}) does not exist or is not a folder")
        return path
    for candidate in SYSTEM_DIRS.get(dataset, []):
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder / (stem + '.gz')}: missing (expected {stem}.gz or {stem} in {folder})")


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The decompressed bytes of ``path``, after checking them against ``expected_sha256``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise DataError(f"{path}: truncated (the gzip stream ends early)") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise DataError(f"{path}: checksum mismatch (SHA-256 of the decompressed file is "
                        f"{digest[:16]}..., expected {expected_sha256[:16]}...); the file is "
                        f"truncated, corrupt or not the official one")
    return raw


def parse_idx(raw: bytes, path) -> np.ndarray:
    """An IDX file's array (uint8), checking its header against its length."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise DataError(f"{path}: IDX header promises {size} values but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_folder(folder: Path, dataset: str = "mnist") -> Dataset:
    sums = checksums(dataset)
    arrays = {}
    for key, stem in FILES.items():
        path = _find(folder, stem)
        arrays[key] = parse_idx(read_verified(path, sums[stem]), path)
    return _finish(dataset, arrays, source=str(folder))


def _finish(dataset: str, arrays: dict, source: str) -> Dataset:
    x_train = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype("float32") / 255.0
    x_test = arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype("float32") / 255.0
    y_train = arrays["y_train"].astype("int64")
    y_test = arrays["y_test"].astype("int64")
    if x_train.shape != (60000, 784) or x_test.shape != (10000, 784) \
            or y_train.shape != (60000,) or y_test.shape != (10000,):
        raise DataError(f"{source}: unexpected shapes {x_train.shape}, {y_train.shape}, "
                        f"{x_test.shape}, {y_test.shape}")
    return Dataset(dataset, x_train, y_train, x_test, y_test, source)


def load_from_keras(dataset: str = "mnist") -> Dataset:
    import keras

    module = keras.datasets.mnist if dataset == "mnist" else keras.datasets.fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # network errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"could not download {dataset} through Keras ({first}); point "
                        f"--data-dir or {ENV_VARS[dataset]} at a folder with the four IDX files") from None
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return _finish(dataset, arrays, source=f"keras.datasets.{module.__name__.rsplit('.', 1)[-1]}")


def load_dataset(dataset: str = "mnist", data_dir=None) -> Dataset:
    """Load ``dataset`` (``mnist`` or ``fashion-mnist``), verified, as float32 in [0, 1]."""
    if dataset not in ENV_VARS:
        raise DataError(f"unknown dataset {dataset!r}; choose mnist or fashion-mnist")
    folder = resolve_data_dir(data_dir, dataset)
    if folder is None:
        return load_from_keras(dataset)
    return load_idx_folder(folder, dataset)


def data_for(config, data: Dataset) -> Dataset:
    """``data`` (the whole data set) as a run of ``config`` sees it: binarized as the run asks,
    then cut to the configuration's subsets."""
    if data.name != config.dataset:
        raise DataError(f"a {config.dataset} run cannot use the {data.name} data set")
    return data.binarized(config.binarize).subset(config.train_subset, config.test_subset)


def load_data_for(config, data_dir=None) -> Dataset:
    """The data a run of ``config`` (a :class:`~vae_mnist.config.RunConfig`) trains and is scored on."""
    return data_for(config, load_dataset(config.dataset, data_dir))


# --------------------------------------------------------------------------------------
# The data sets this process has loaded, each once
# --------------------------------------------------------------------------------------
# The rule for which folder serves which data set (:func:`folder_for`): a ``data_dir`` given to a
# function is the MNIST folder, or a ``{data set: folder}`` mapping; Fashion-MNIST is otherwise found
# through its own variable or system folder (:func:`resolve_data_dir`). The build, the sweep, the
# workers' tasks and the classifiers all load through :func:`dataset`, so a book build reads each data
# set once.
_loaded = {}
_lock = threading.Lock()


def folder_for(name: str, data_dir=None):
    """The folder :func:`dataset` reads ``name`` from (``None``: Keras's download).

    ``data_dir``: a folder, which is MNIST's (a build or sweep over several data sets passes the
    one ``--data-dir``; the others are found through their own variables and system folders), or
    ``{data set: folder}`` (a command about one data set, such as ``vae-mnist train --dataset``).
    """
    if isinstance(data_dir, dict):
        data_dir = data_dir.get(name)
    elif name != "mnist":
        data_dir = None
    return resolve_data_dir(data_dir, name)


def one_data_set(name: str, data_dir):
    """A ``data_dir`` meant for the data set ``name`` (one run's, one command's) in the form :func:`folder_for` reads."""
    return {name: data_dir} if data_dir is not None and not isinstance(data_dir, dict) else data_dir


def _identity(folder) -> Optional[tuple]:
    """What the loaded copy depends on: the folder and its files' sizes and modification times."""
    if folder is None:
        return None
    out = [str(folder)]
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file() and any(entry.name.startswith(stem) for stem in FILES.values()):
            st = entry.stat()
            out.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def dataset(name: str = "mnist", data_dir=None) -> Dataset:
    """The whole data set ``name``, verified, loaded once per process (again when its files change).

    Callers must not change the arrays in place (every consumer slices or copies).
    """
    folder = folder_for(name, data_dir)
    key = (name, _identity(folder))
    with _lock:
        if key not in _loaded:
            _loaded[key] = load_dataset(name, folder)
        return _loaded[key]


def run_data(config, data_dir=None, data: Optional[Dataset] = None) -> Dataset:
    """The data a run of ``config`` trains and is scored on: ``data`` (the whole data set) or :func:`dataset`,
    as the run sees it (:func:`vae_mnist.core.data.data_for`)."""
    return data_for(config, dataset(config.dataset, data_dir) if data is None else data)
