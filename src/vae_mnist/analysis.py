"""Beyond the paper: which extra runs the book trains, and the tables built from their metrics.

The paper trains z = 2, 10 and 20 with a Bernoulli decoder on MNIST. The chapters under
``book/beyond/`` add

* a latent-size sweep (:data:`SWEEP_LATENTS`), each point an ordinary run (and a run page);
* the same z = 20 model with a Gaussian decoder (:func:`decoder_configs`);
* Fashion-MNIST at z = 2 (:func:`fashion_config`);
* the importance-weighted bound and posterior diagnostics of each (:func:`ensure_book_metrics`).

Everything here is plain Python over :class:`~vae_mnist.runs.Run` objects: tables are lists of
dicts (one per row), so chapters render them with :func:`vae_mnist.build.markdown_table` and
tests check them without pandas.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence

from .build import book_config, current_profile, current_seeds, headline_configs, mean_sd
from .build import unique_configs as _unique
from .config import RunConfig

#: Latent sizes of the sweep chapter (the paper's three plus 5 and 50).
SWEEP_LATENTS = (2, 5, 10, 20, 50)

#: k of the importance-weighted bound per build profile (the smoke build only checks the plumbing).
IWAE_K = {"full": 1000, "smoke": 50}

#: Latent size of the decoder-likelihood comparison and of the Fashion-MNIST run.
DECODER_LATENT = 20
FASHION_LATENT = 2


def iwae_k(profile: Optional[str] = None) -> int:
    """The number of importance samples the book uses under ``profile``."""
    return IWAE_K[current_profile(profile)]


def sweep_configs(profile: Optional[str] = None, seed: int = 0) -> List[RunConfig]:
    """One Bernoulli MNIST run per latent size of :data:`SWEEP_LATENTS`."""
    return [book_config(z, profile, seed=seed) for z in SWEEP_LATENTS]


def decoder_configs(profile: Optional[str] = None) -> Dict[str, RunConfig]:
    """The z = 20 model with each decoder likelihood."""
    return {lik: book_config(DECODER_LATENT, profile, likelihood=lik) for lik in ("bernoulli", "gaussian")}


def fashion_config(profile: Optional[str] = None) -> RunConfig:
    """The Fashion-MNIST run (z = 2, Bernoulli decoder, the paper's training settings)."""
    return book_config(FASHION_LATENT, profile, dataset="fashion-mnist")


def beyond_configs(profile: Optional[str] = None) -> List[RunConfig]:
    """The runs the beyond-the-paper chapters add to the book (each gets a run page)."""
    return _unique(sweep_configs(profile) + list(decoder_configs(profile).values()) + [fashion_config(profile)])


def iwae_configs(profile: Optional[str] = None, seeds: Optional[int] = None) -> List[RunConfig]:
    """The runs whose IWAE bound the book computes (with k = :func:`iwae_k`).

    The sweep, the Gaussian decoder and Fashion-MNIST (seed 0), and, when the build trains
    several seeds, every seed of the headline models (so the seed table can show its spread).
    """
    configs = beyond_configs(profile)
    if current_seeds(seeds) > 1:
        configs += headline_configs(profile, seeds)
    return _unique(configs)


def ensure_book_metrics(configs: Sequence[RunConfig], profile: Optional[str] = None,
                        seeds: Optional[int] = None, data_dir=None, progress=print) -> None:
    """Add the IWAE bound (for :func:`iwae_configs`) and the posterior diagnostics (for all) to metrics.json.

    The runs must be trained already (the build trains them first); this only evaluates what the
    metrics lack, so a rebuild with nothing changed costs nothing.
    """
    from .data import load_dataset
    from .evaluation import ensure_extra_metrics
    from .runs import get_run

    with_iwae = set(iwae_configs(profile, seeds))
    k = iwae_k(profile)
    datasets = {}
    for config in configs:
        run = get_run(config, data_dir=data_dir, progress=None)
        m = run.metrics
        wants_iwae = config in with_iwae and m.get("iwae_k") != k
        if not wants_iwae and "active_units" in m and "kl_per_dimension" in m:
            continue
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(config.dataset, data_dir if config.dataset == "mnist" else None)
        ensure_extra_metrics(run, k=k if config in with_iwae else None, data=datasets[config.dataset],
                             progress=progress)


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


def format_spread(mean, sd, digits: int = 2) -> str:
    """``"m"`` (one seed), ``"m ± sd"`` (several) or an em dash (not computed)."""
    if mean is None:
        return "—"
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell; an em dash when it was not computed."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def pixel_statistics(model, x, seed: int = 0) -> dict:
    """Reconstruction errors of ``model`` on ``x`` through the posterior mean (no sampling).

    Returns the root-mean-square error per pixel, the mean absolute error, and for a Gaussian
    decoder its learned observation standard deviation (to set against the RMS error: for one
    variance shared by all pixels, maximum likelihood puts sigma at the RMS error).
    """
    import numpy as np

    from .evaluation import decode, encode_means

    means = decode(model, encode_means(model, x))
    err = np.asarray(x, dtype="float64") - means
    out = {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}
    lv = getattr(model, "observation_log_var", None)
    out["sigma"] = None if lv is None else float(math.exp(0.5 * float(lv.numpy())))
    return out


__all__ = ["SWEEP_LATENTS", "IWAE_K", "iwae_k", "sweep_configs", "decoder_configs", "fashion_config",
           "beyond_configs", "iwae_configs", "ensure_book_metrics", "run_row", "sweep_table",
           "seed_spread_table", "format_spread", "fmt", "pixel_statistics"]
