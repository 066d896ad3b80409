"""The data sets this process has loaded: the one rule for which folder serves which data set, each
data set loaded once per process.

The rule (:func:`folder_for`): a ``data_dir`` given to a function is the MNIST folder, or a
``{data set: folder}`` mapping; Fashion-MNIST is otherwise found through its own variable or system
folder (:func:`vae_mnist.core.data.resolve_data_dir`). The build, the sweep, the workers' tasks and the
classifiers all load through :func:`dataset`, so a book build reads each data set once. (The
loading itself is :func:`vae_mnist.core.data.load_dataset`, part of the run code hash.)
"""
from __future__ import annotations

import os
import threading
from typing import Optional

from .data import FILES, Dataset, data_for, load_dataset, resolve_data_dir

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


def forget() -> None:
    """Drop every loaded data set (to free memory)."""
    with _lock:
        _loaded.clear()
