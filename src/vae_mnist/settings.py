"""Every environment variable the package reads, in one table, each parsed here with one rule.

The command line's options win over these; the book's kernels get the build's profile and seeds
through :func:`kernel_environment`, the one place that writes them.

==================================== =============================================================
variable                             what it sets
==================================== =============================================================
``VAE_MNIST_DATA_DIR``               folder with MNIST's four IDX files (else Keras's download)
``VAE_MNIST_FASHION_DATA_DIR``       the same for Fashion-MNIST
``VAE_MNIST_CACHE_DIR``              the run cache (else ``<checkout>/.cache/runs`` or ``~/.cache/vae-mnist/runs``)
``VAE_MNIST_PROFILE``                ``full`` (default) or ``smoke``: the runs the book trains
``VAE_MNIST_SEEDS``                  seeds per headline model (default 1)
``VAE_MNIST_PAPER``                  the paper's text, a file or folder (else ``../shared/paper``)
``VAE_MNIST_CHROMIUM``               the Chromium that prints the PDF
``DASK_SCHEDULER_ADDRESS``           a running Dask scheduler to train on
``VAE_MNIST_SHARE_CORES``            cores per Dask task process (set by the cluster for its tasks)
``VAE_MNIST_CONNECT_TIMEOUT``        seconds to wait for a Dask scheduler (default 10)
``VAE_MNIST_DEBUG``                  ``1``: the command line prints tracebacks instead of one line
==================================== =============================================================
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional, Sequence

from .errors import ConfigError

DATA_DIR = "VAE_MNIST_DATA_DIR"
FASHION_DATA_DIR = "VAE_MNIST_FASHION_DATA_DIR"
CACHE_DIR = "VAE_MNIST_CACHE_DIR"
PROFILE = "VAE_MNIST_PROFILE"
SEEDS = "VAE_MNIST_SEEDS"
PAPER = "VAE_MNIST_PAPER"
CHROMIUM = "VAE_MNIST_CHROMIUM"
SCHEDULER = "DASK_SCHEDULER_ADDRESS"
SHARE_CORES = "VAE_MNIST_SHARE_CORES"
CONNECT_TIMEOUT = "VAE_MNIST_CONNECT_TIMEOUT"
DEBUG = "VAE_MNIST_DEBUG"
MPLBACKEND = "MPLBACKEND"          # (Matplotlib's own: kept away from kernels, which choose their inline backend)


def text(name: str) -> Optional[str]:
    """The variable ``name``, stripped; ``None`` when unset or blank."""
    raw = os.environ.get(name, "").strip()
    return raw or None


def positive_int(name: str, default: int, value=None) -> int:
    """``value`` if given, else the variable ``name``, else ``default``: a positive integer, or one line."""
    if value is None:
        value = text(name)
        if value is None:
            return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name} must be a positive integer, got {number}")
    return number


def choice(name: str, choices: Sequence[str], default: str, value=None) -> str:
    """``value`` if given, else the variable ``name``, else ``default``: one of ``choices``, or one line."""
    value = value or text(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def positive_float(name: str, default: float) -> float:
    raw = text(name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}") from None
    if not number > 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return number


def debug() -> bool:
    return bool(text(DEBUG))


@contextlib.contextmanager
def kernel_environment(**values: Optional[str]) -> Iterator[None]:
    """Set the variables ``values`` (``PROFILE="smoke"``: by the constant's name; ``None`` removes one)
    for kernels started inside the block, and restore them after it."""
    names = {globals()[key]: value for key, value in values.items()}
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name, value in names.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
