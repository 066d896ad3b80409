"""Honest numbers for a trained model: test ELBO, posterior diagnostics, and what a run's metrics lack.

The importance-weighted bound itself is :mod:`vae_mnist.core.iwae` ;
:func:`ensure_extra_metrics` adds it and the diagnostics to a run's ``metrics.json``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from keras import ops

from . import losses
from .iwae import bound_summary, iwae_bound
from .per_image import store_per_image


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def negative_elbo(model, x, seed: int = 0, batch_size: int = 2000) -> dict:
    """Mean negative ELBO over ``x`` (nats per image) with its reconstruction and KL parts.

    One posterior sample per image; the noise comes from a fixed ``seed`` so the figure is
    reproducible. The KL is exact (closed form); the reconstruction is a one-sample estimate.
    """
    x = np.asarray(x, dtype="float32")
    rec_total = 0.0
    kl_total = 0.0
    for i, (a, b) in enumerate(_batches(len(x), batch_size)):
        rec, kl = model.loss_terms(x[a:b], seed=seed * 100003 + i)
        rec_total += float(ops.sum(rec))
        kl_total += float(ops.sum(kl))
    n = len(x)
    return {"neg_elbo": (rec_total + kl_total) / n, "reconstruction": rec_total / n, "kl": kl_total / n}


def encode_means(model, x, batch_size: int = 5000) -> np.ndarray:
    """Posterior means E[z|x] for every row of ``x``."""
    x = np.asarray(x, dtype="float32")
    out = [ops.convert_to_numpy(model.encode(x[a:b])[0]) for a, b in _batches(len(x), batch_size)]
    return np.concatenate(out, axis=0)


def encode(model, x, batch_size: int = 5000):
    """Posterior (means, log-variances) for every row of ``x``, as numpy arrays."""
    x = np.asarray(x, dtype="float32")
    means, log_vars = [], []
    for a, b in _batches(len(x), batch_size):
        m, lv = model.encode(x[a:b])
        means.append(ops.convert_to_numpy(m))
        log_vars.append(ops.convert_to_numpy(lv))
    return np.concatenate(means), np.concatenate(log_vars)


def decode(model, z, batch_size: int = 5000) -> np.ndarray:
    """Decoded pixel means (in [0, 1]) for every row of ``z``."""
    z = np.asarray(z, dtype="float32")
    return np.concatenate([ops.convert_to_numpy(model.decode(z[a:b])) for a, b in _batches(len(z), batch_size)])


def kl_per_dimension(model, x) -> np.ndarray:
    """Mean over ``x`` of the closed-form KL in each latent dimension (nats)."""
    means, log_vars = encode(model, x)
    return np.asarray(ops.convert_to_numpy(losses.kl_per_dimension(means, log_vars))).mean(axis=0)


def posterior_mean_variance(model, x) -> np.ndarray:
    """Variance over ``x`` of each latent dimension's posterior mean, Var_x(E_q[z_u|x])."""
    return encode_means(model, x).astype("float64").var(axis=0)


def active_units(model, x, threshold: float = 0.01) -> int:
    """Number of latent dimensions whose posterior mean varies over ``x`` by more than ``threshold``.

    Burda et al. (2016): dimension u is active when Cov_x(E_q[z_u|x]) > 0.01.
    """
    return int(np.sum(posterior_mean_variance(model, x) > threshold))


# --------------------------------------------------------------------------------------
def missing_extra_metrics(metrics: dict, k: Optional[int]) -> tuple:
    """``(IWAE bound missing, posterior diagnostics missing)`` for ``metrics`` and a bound at ``k``
    (``None``: no bound asked for). The one rule for what a run's metrics still lack."""
    need_iwae = k is not None and (metrics.get("iwae_k") != int(k) or "iwae_nll" not in metrics)
    need_diag = "active_units" not in metrics or "kl_per_dimension" not in metrics
    return need_iwae, need_diag


def ensure_extra_metrics(run, k: int = 1000, data=None, progress=None) -> dict:
    """Add what ``run``'s ``metrics.json`` lacks: the IWAE bound at ``k`` and the posterior diagnostics.

    Writes ``iwae_nll``, ``iwae_stderr``, ``iwae_k``, ``iwae_seconds`` (recomputed only when
    missing or computed with another k), ``active_units`` and ``kl_per_dimension`` (a list, one
    value per latent dimension), all on the run's own test set, and returns the updated metrics.
    The bound's per-image values are kept beside them (:func:`vae_mnist.measures.comparison.iwae_per_image`).
    Nothing is recomputed when everything is there, so chapters can call it freely.
    """
    metrics = run.metrics
    new = {}
    need_iwae, need_diag = missing_extra_metrics(metrics, k)
    if not (need_iwae or need_diag):
        return metrics
    from .data import run_data

    data = run_data(run.config, data=data)
    x = data.x_test
    model = run.model
    if need_diag:
        new["active_units"] = active_units(model, x)
        new["kl_per_dimension"] = [float(v) for v in kl_per_dimension(model, x)]
    if need_iwae:
        if progress is not None:
            progress(f"{run.path.name}: IWAE bound with k={k} on {len(x)} test images")
        iw = iwae_bound(model, x, k=int(k), seed=run.config.seed, progress=progress, per_image=True)
        new.update(bound_metrics(run, int(k), iw["per_image"], iw["seconds"]))
    return run.update_metrics(**new)


def bound_metrics(run, k: int, values, seconds: float) -> dict:
    """Keep the bound's per-image ``values`` (every test image of ``run``, in order) in the run folder
    and return the metrics they give: ``iwae_nll``, ``iwae_stderr``, ``iwae_k``, ``iwae_seconds``.
    The one place a bound becomes metrics, whether computed in one pass or in slices (:mod:`vae_mnist.jobs.bound_tasks`)."""
    store_per_image(run, int(k), values)
    iw = bound_summary(values, k, seconds)
    return dict(iwae_nll=iw["nll"], iwae_stderr=iw["stderr"], iwae_k=iw["k"], iwae_seconds=iw["seconds"])
