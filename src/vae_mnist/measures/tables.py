"""Beyond the paper: tables built from the book's runs and their metrics.

Which runs the chapters under ``book/beyond/`` add (the latent-size sweep, the Gaussian decoder,
Fashion-MNIST) is decided in :mod:`vae_mnist.profiles`; the build adds the importance-weighted
bound and posterior diagnostics to their ``metrics.json`` (:func:`vae_mnist.jobs.runner.run_jobs` with
:func:`vae_mnist.jobs.jobs.book_jobs`); this module turns finished runs into rows of numbers.

Everything here is plain Python over :class:`~vae_mnist.store.runs.Run` objects: tables are lists of
dicts (one per row), so chapters render them with :func:`vae_mnist.text.markdown_table` and
tests check them without pandas.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from ..text import mean_sd


# --------------------------------------------------------------------------------------
# Tables (lists of dicts)
# --------------------------------------------------------------------------------------
def run_row(run) -> dict:
    """One row of numbers for a run: its configuration and the metrics the chapters show."""
    m = run.metrics
    c = run.config
    row = {
        "latent_dim": c.latent_dim, "likelihood": c.likelihood, "dataset": c.dataset, "seed": c.seed,
        "epochs": c.epochs, "neg_elbo": m["test_neg_elbo"], "reconstruction": m["test_reconstruction"],
        "kl": m["test_kl"], "test_size": m.get("test_size"),
        "iwae_nll": m.get("iwae_nll"), "iwae_stderr": m.get("iwae_stderr"), "iwae_k": m.get("iwae_k"),
        "iwae_seconds": m.get("iwae_seconds"), "active_units": m.get("active_units"),
    }
    row["gap"] = None if row["iwae_nll"] is None else row["neg_elbo"] - row["iwae_nll"]
    return row


def sweep_table(runs) -> List[dict]:
    """Rows of :func:`run_row`, sorted by latent size."""
    return sorted((run_row(r) for r in runs), key=lambda r: (r["latent_dim"], r["seed"]))


def seed_spread_table(runs, keys: Sequence[str] = ("neg_elbo", "reconstruction", "kl", "iwae_nll", "active_units"),
                      by: str = "latent_dim") -> List[dict]:
    """Per value of ``by``: the number of seeds and the mean and sample sd of each of ``keys``.

    A key missing from some run of a group gives ``None`` for that group (never a mean over a
    subset of the seeds). The sd of a single seed is ``nan``.
    """
    groups: Dict[object, List[dict]] = {}
    for row in (run_row(r) for r in runs):
        groups.setdefault(row[by], []).append(row)
    table = []
    for value in sorted(groups):
        rows = groups[value]
        out = {by: value, "n_seeds": len(rows), "seeds": sorted(r["seed"] for r in rows)}
        for key in keys:
            values = [r[key] for r in rows]
            if any(v is None for v in values):
                out[f"{key}_mean"] = out[f"{key}_sd"] = None
            else:
                out[f"{key}_mean"], out[f"{key}_sd"] = mean_sd(values)
        table.append(out)
    return table


def pixel_statistics(model, x, seed: int = 0, sampled: bool = False) -> dict:
    """Reconstruction errors of ``model`` on ``x`` through the posterior mean (no sampling), or with
    ``sampled=True`` through one code drawn from each posterior (seeded), as in training.

    Returns the root-mean-square error per pixel, the mean absolute error, and for a Gaussian
    decoder its learned observation standard deviation (to set against the RMS error: for one
    variance shared by all pixels, maximum likelihood puts sigma at the RMS error).
    """
    import numpy as np

    from ..core.evaluation import decode, encode

    mu, log_var = encode(model, x)
    if sampled:
        mu = mu + np.exp(0.5 * log_var) * np.random.default_rng(seed).standard_normal(mu.shape).astype(mu.dtype)
    means = decode(model, mu)
    err = np.asarray(x, dtype="float64") - means
    out = {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}
    lv = getattr(model, "observation_log_var", None)
    out["sigma"] = None if lv is None else float(math.exp(0.5 * float(lv.numpy())))
    return out


# --------------------------------------------------------------------------------------
# How well a few seeds pin down a standard deviation
# --------------------------------------------------------------------------------------
def chi2_cdf(x: float, dof: int) -> float:
    """P(X <= x) for X ~ chi-square with ``dof`` degrees of freedom (regularized lower gamma P(dof/2, x/2)).

    Series for x/2 < a + 1, continued fraction (Lentz) otherwise (Numerical Recipes, 6.2).
    """
    if x <= 0:
        return 0.0
    a, t = 0.5 * dof, 0.5 * x
    log_front = a * math.log(t) - t - math.lgamma(a)
    if t < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > 1e-16 * abs(total):
            n += 1
            term *= t / n
            total += term
        return min(1.0, math.exp(log_front) * total)
    tiny = 1e-300
    b = t + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def chi2_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of chi-square with ``dof`` degrees of freedom (bisection on :func:`chi2_cdf`).

    For 2 degrees of freedom the chi-square is exponential with mean 2: the quantile is -2 ln(1 - p).
    """
    if not 0 < p < 1:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    lo, hi = 0.0, max(1.0, float(dof))
    while chi2_cdf(hi, dof) < p:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if chi2_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def sd_interval_factors(n: int, level: float = 0.95):
    """Factors (lower, upper) such that [lower * s, upper * s] is the ``level`` interval for sigma.

    For n values from a normal distribution with sample sd s, (n - 1) s^2 / sigma^2 is chi-square
    with n - 1 degrees of freedom, so sigma lies in s * sqrt((n - 1) / q_hi) .. s * sqrt((n - 1) / q_lo)
    with q_lo, q_hi the (1 - level)/2 and (1 + level)/2 quantiles.
    """
    if n < 2:
        raise ValueError("a standard deviation needs at least 2 values")
    dof = n - 1
    alpha = 1 - level
    return (math.sqrt(dof / chi2_quantile(1 - alpha / 2, dof)), math.sqrt(dof / chi2_quantile(alpha / 2, dof)))


# --------------------------------------------------------------------------------------
# Against published numbers (the binarized runs; the published rows live in vae_mnist.measures.literature)
# --------------------------------------------------------------------------------------
def convergence(history: dict, key: str = "test_loss", last: int = 10) -> dict:
    """How much ``history[key]`` (a per-epoch loss, lower is better) still fell at the end of training.

    Returns the final value, the fall over the last ``last`` epochs (positive: still improving),
    the same for the ``last`` epochs before those (``None`` when the run is too short), the fall
    in the final epoch, the mean fall per epoch over the last ``last`` epochs, the best value and
    its epoch (1-based), and the number of epochs. With fewer than ``last + 1`` epochs the window
    is the whole run.
    """
    values = [float(v) for v in history[key]]
    if not values:
        raise ValueError(f"history has no {key!r} values")
    window = min(last, len(values) - 1)
    fall = values[-1 - window] - values[-1] if window > 0 else 0.0
    previous = (values[-1 - 2 * window] - values[-1 - window]
                if window > 0 and len(values) > 2 * window else None)
    best = min(range(len(values)), key=values.__getitem__)
    return {"final": values[-1], "epochs": len(values), "window": window, "fall_window": fall,
            "fall_previous_window": previous, "fall_per_epoch": fall / window if window > 0 else 0.0,
            "fall_last_epoch": values[-2] - values[-1] if len(values) > 1 else 0.0,
            "best": values[best], "best_epoch": best + 1}


def convergence_sentence(history: dict, latent_dim: int, gap: Optional[float] = None,
                         full_epochs: Optional[int] = None, reference_passes: Optional[int] = None,
                         key: str = "test_loss", last: int = 10) -> str:
    """The sentence that says how far from converged a run is, from its learning curve.

    "Still improving" means the loss fell over the last ``last`` epochs; single epochs are noisy
    (the one-sample test ELBO, Adam's steps), so the largest epoch-to-epoch move in the window is
    stated beside the trend, and so is the epoch of the lowest value when it is not the last.
    With ``gap`` (nats still to go to a reference, positive when the reference is better) the
    sentence adds how many epochs that is at the recent rate.
    """
    c = convergence(history, key, last)
    n = c["epochs"]
    if c["window"] == 0:
        return (f"This build trained {n} epoch, so the learning curve says nothing about convergence"
                + (f"; the full build trains {full_epochs}." if full_epochs else "."))
    values = [float(v) for v in history[key]]
    tail = values[-1 - c["window"]:]
    jitter = max(abs(b - a) for a, b in zip(tail, tail[1:]))
    best_note = f", and its lowest value came at epoch {c['best_epoch']}" if c["best_epoch"] != n else ""
    subject = f"Over its last {c['window']} epochs the test negative ELBO of the z = {latent_dim} model"
    if c["fall_window"] <= 0:
        return (f"{subject} did not fall (it changed by {-c['fall_window']:+.2f} nats; single epochs moved it "
                f"by up to {jitter:.2f}){best_note}: by this measure, training had stopped improving the test loss.")
    if c["fall_window"] <= jitter:  # a fall no larger than one epoch's jitter says nothing either way
        return (f"{subject} fell by {c['fall_window']:.2f} nats, no more than single epochs moved it "
                f"(up to {jitter:.2f} nats either way){best_note}: the curve cannot tell whether {n} epochs "
                "are converged.")
    out = (f"{subject} still fell by {c['fall_window']:.2f} nats, {c['fall_per_epoch']:.3f} per epoch on "
           f"average, more than single epochs moved it (up to {jitter:.2f} nats either way){best_note}: {n} epochs "
           "are not converged.")
    prev = c["fall_previous_window"]
    if prev is not None:
        out += (f" The {c['window']} epochs before those gained {prev:.2f} nats"
                + (", so the fall is slowing." if prev > c["fall_window"] else
                   ", so the fall is not slowing yet." if prev < c["fall_window"] else "."))
    if gap is not None and gap > 0:
        out += (f" The distance to the published one-layer VAE, {gap:.2f} nats, would take "
                f"{gap / c['fall_per_epoch']:.0f} more epochs at the rate of the last {c['window']}"
                + (f"; the published rows trained for {reference_passes:,} passes." if reference_passes else "."))
    return out


def literature_row(run) -> dict:
    """One of this book's binarized runs as a row of the comparison with published numbers."""
    row = run_row(run)
    c = run.config
    row.update(network=f"784–{c.hidden_dim}–{c.latent_dim}, decoder mirrored (ReLU)",
               objective="VAE (ELBO, one sample)", passes=c.epochs, batch_size=c.batch_size,
               binarize=c.binarize, train_size=run.metrics.get("train_size"))
    return row


__all__ = ["run_row", "sweep_table", "seed_spread_table", "pixel_statistics",
           "chi2_cdf", "chi2_quantile", "sd_interval_factors", "convergence", "convergence_sentence",
           "literature_row"]
