"""The per-image values a run keeps: the IWAE bound's estimate for every test image at ``k`` samples,
saved atomically in the run folder (for paired comparisons, :mod:`vae_mnist.measures.comparison`)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

#: Where a run keeps the IWAE bound's per-image values (for paired comparisons, vae_mnist.measures.comparison).
PER_IMAGE_FILE = "iwae_per_image_k{k}.npy"


def _save_atomically(path: Path, values: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, values)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def store_per_image(run, k: int, values) -> Path:
    """Keep ``values`` (one per test image of ``run``, at ``k`` samples) in the run folder."""
    path = Path(run.path) / PER_IMAGE_FILE.format(k=int(k))
    _save_atomically(path, np.asarray(values, dtype="float64"))
    return path
