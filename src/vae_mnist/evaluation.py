"""Honest numbers for a trained model: test ELBO, importance-weighted bound, posterior diagnostics."""
from __future__ import annotations

import numpy as np
from keras import ops

from . import losses


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


def active_units(model, x, threshold: float = 0.01) -> int:
    """Number of latent dimensions whose posterior mean varies over ``x`` by more than ``threshold``.

    Burda et al. (2016): dimension u is active when Cov_x(E_q[z_u|x]) > 0.01.
    """
    means = encode_means(model, x)
    return int(np.sum(means.var(axis=0) > threshold))
