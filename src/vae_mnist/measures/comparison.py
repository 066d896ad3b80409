"""Comparing two of the book's models scored on the same test images: the paired standard error.

Two models evaluated on the *same* test images give two per-image numbers for every image, and
images that are hard for one model are hard for the other. The uncertainty of the difference of
the two means is then the standard error of the per-image *differences*,

    se_paired = sd(a_i - b_i) / sqrt(n),

which is usually far smaller than either model's own standard error: most of the spread over
images is shared. The unpaired rule (``2 * max(se_a, se_b)``, or ``sqrt(se_a^2 + se_b^2)``) is
right only for independent test sets, and overstates the uncertainty here.

* :func:`paired_difference` is the statistic, on two arrays of per-image values;
* :func:`iwae_per_image` gives a run's per-image IWAE estimates on its test set, computed once with
  the same seed as the bound in ``metrics.json`` and kept beside it in the run folder;
* :func:`compare_runs` pairs two runs' per-image estimates (the same test images, checked).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VaeMnistError
from ..core.per_image import PER_IMAGE_FILE, store_per_image

#: How a run's per-image IWAE estimates are stored in its folder (one float64 per test image).


def paired_difference(a, b) -> dict:
    """The mean of ``a - b`` over paired values, with its paired and unpaired standard errors.

    Returns ``{"diff", "se_paired", "se_a", "se_b", "se_unpaired", "n", "z", "correlation"}``:
    ``diff`` = mean(a) - mean(b); ``se_paired`` = sd(a - b) / sqrt(n); ``se_a``, ``se_b`` each
    mean's own standard error; ``se_unpaired`` = sqrt(se_a² + se_b²), what the difference's
    standard error would be if the two were measured on independent test sets; ``z`` =
    diff / se_paired; ``correlation`` the Pearson correlation of the pairs.
    """
    a = np.asarray(a, dtype="float64").ravel()
    b = np.asarray(b, dtype="float64").ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same images: {a.size} values against {b.size}")
    n = a.size
    if n < 2:
        raise ValueError(f"a paired standard error needs at least two images, got {n}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite numbers")
    d = a - b
    se_a = float(a.std(ddof=1) / np.sqrt(n))
    se_b = float(b.std(ddof=1) / np.sqrt(n))
    se_paired = float(d.std(ddof=1) / np.sqrt(n))
    diff = float(d.mean())
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return {"diff": diff, "se_paired": se_paired, "se_a": se_a, "se_b": se_b,
            "se_unpaired": float(np.hypot(se_a, se_b)), "n": int(n),
            "z": diff / se_paired if se_paired > 0 else float("inf") * np.sign(diff),
            "correlation": corr}


def iwae_per_image(run, k: int = 1000, data=None, progress=None) -> np.ndarray:
    """``-log p̂(x)`` of every test image of ``run`` at ``k`` samples (the values behind ``iwae_nll``).

    Computed with the run's seed, as :func:`vae_mnist.core.evaluation.ensure_extra_metrics` computes the
    stored bound, so their mean is the stored ``iwae_nll`` when that was computed at the same ``k``;
    saved as :data:`PER_IMAGE_FILE` in the run folder (atomically) and read from there next time.
    A stored file of the wrong length (another test subset) is recomputed.
    """
    from ..core.iwae import iwae_bound

    k = int(k)
    if data is None:
        from ..core.data import load_data_for

        data = load_data_for(run.config)
    else:
        from ..core.data import data_for

        data = data_for(run.config, data)
    path = Path(run.path) / PER_IMAGE_FILE.format(k=k)
    if path.is_file():
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            values = None
        if values is not None and values.shape == (len(data.x_test),) and np.isfinite(values).all():
            return values
    if progress is not None:
        progress(f"{Path(run.path).name}: per-image IWAE bound with k={k} on {len(data.x_test)} test images")
    values = iwae_bound(run.model, data.x_test, k=k, seed=run.config.seed, per_image=True,
                        progress=progress)["per_image"]
    store_per_image(run, k, values)
    return values


def compare_runs(run_a, run_b, k: int = 1000, data=None, progress=None) -> dict:
    """:func:`paired_difference` of two runs' per-image IWAE estimates (``a`` minus ``b``, nats).

    The two runs must be scored on the same test images (same data set, binarization and test
    subset); otherwise the pairing means nothing and this raises :class:`VaeMnistError`.
    """
    ca, cb = run_a.config, run_b.config
    same = [getattr(ca, f, None) == getattr(cb, f, None) for f in ("dataset", "binarize", "test_subset")]
    if not all(same):
        raise VaeMnistError(f"{Path(run_a.path).name} and {Path(run_b.path).name} are not scored on the same "
                            "test images (data set, binarization or test subset differ): no paired comparison")
    return paired_difference(iwae_per_image(run_a, k, data=data, progress=progress),
                             iwae_per_image(run_b, k, data=data, progress=progress))

