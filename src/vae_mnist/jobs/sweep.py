"""``vae-mnist sweep``: a grid of configurations, trained and evaluated where the cache lacks them.

:func:`parse_int_list` / :func:`parse_choice_list` read the grid's axes (``2,5,10``, ``0-2``);
:func:`grid` makes the configurations; :func:`sweep` has them done on a Dask cluster (or serially
with ``workers=1``) through :func:`vae_mnist.jobs.runner.run_jobs`; :func:`result_rows` and
:func:`results_table` are what it prints at the end.
"""
from __future__ import annotations

import itertools
from typing import List, Optional, Sequence

from ..config import RunConfig
from ..errors import ConfigError


def parse_int_list(text: str, what: str = "value", minimum: int = 0, maximum: Optional[int] = None) -> List[int]:
    """``"2,5,10"``, ``"0-2"`` or a mix (``"0-2,5"``) as a list of distinct integers, in order given."""
    values: List[int] = []
    parts = [p.strip() for p in str(text).split(",")]
    if not text or not str(text).strip() or any(p == "" for p in parts):
        raise ConfigError(f"{what}: expected a list like 2,5,10 or a range like 0-2, got {text!r}")
    for part in parts:
        lo, sep, hi = part.partition("-")
        try:
            bounds = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise ConfigError(f"{what}: {part!r} is not an integer or a range like 0-2") from None
        if bounds[1] < bounds[0]:
            raise ConfigError(f"{what}: the range {part!r} runs backwards")
        chunk = range(bounds[0], bounds[1] + 1)
        for v in chunk:
            if v < minimum or (maximum is not None and v > maximum):
                bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
                raise ConfigError(f"{what}: {v} is out of range (must be {bound})")
            if v not in values:
                values.append(v)
    return values


def parse_choice_list(text: str, choices: Sequence[str], what: str = "value") -> List[str]:
    """``"bernoulli,gaussian"`` as a list of distinct choices, each one of ``choices``."""
    parts = [p.strip() for p in str(text).split(",")]
    if any(p == "" for p in parts):
        raise ConfigError(f"{what}: expected a comma-separated list of {', '.join(choices)}, got {text!r}")
    for p in parts:
        if p not in choices:
            raise ConfigError(f"{what}: {p!r} is not one of {', '.join(choices)}")
    return list(dict.fromkeys(parts))


def grid(latent_dims: Sequence[int], seeds: Sequence[int], likelihoods: Sequence[str] = ("bernoulli",),
         datasets: Sequence[str] = ("mnist",), binarize: Sequence[str] = ("none",),
         reconstruction: Sequence[str] = ("sum",), **common) -> List[RunConfig]:
    """Every combination, dataset-major, then likelihood, binarization, reconstruction, latent size, seed."""
    return [RunConfig(latent_dim=z, seed=s, likelihood=lik, dataset=ds, binarize=b, reconstruction=r, **common)
            for ds, lik, b, r, z, s in itertools.product(datasets, likelihoods, binarize, reconstruction,
                                                         latent_dims, seeds)]


def sweep(configs: Sequence[RunConfig], iwae_k: Optional[int] = None, workers: int = 1,
          scheduler: Optional[str] = None, data_dir=None, progress=print):
    """Train and evaluate what the cache lacks; a list of :class:`vae_mnist.jobs.jobs.Outcome`.

    ``iwae_k``: the IWAE bound's k (``None``: the book's k for each configuration, see
    :func:`vae_mnist.profiles.iwae_k_for`; ``0``: no bound). ``workers=1`` without a scheduler works
    in this process, serially; otherwise on a Dask cluster (:func:`vae_mnist.jobs.runner.run_jobs`).
    """
    from .jobs import Job
    from ..profiles import iwae_k_for
    from .runner import run_jobs

    jobs = [Job(c, (iwae_k_for(c, "full") if iwae_k is None else (iwae_k or None))) for c in configs]
    return run_jobs(jobs, workers, scheduler, data_dir=data_dir, progress=progress)


def result_rows(outcomes) -> List[dict]:
    """One dict per job: the configuration, what happened, and the metrics (``None`` where missing)."""
    from ..store.runs import Run, run_path

    rows = []
    for o in outcomes:
        c = o.job.config
        row = {"name": c.name(), "dataset": c.dataset, "likelihood": c.likelihood, "binarize": c.binarize,
               "reconstruction": c.reconstruction, "latent_dim": c.latent_dim, "seed": c.seed,
               "epochs": c.epochs, "status": o.status, "seconds": round(o.seconds, 1), "worker": o.worker,
               "error": o.error}
        metrics = {}
        if o.status != "failed":
            run = o.run if o.run is not None else Run(run_path(c), check=False)
            metrics = run.metrics
            row["path"] = str(run.path)
        for k in ("test_neg_elbo", "test_reconstruction", "test_kl", "iwae_nll", "iwae_stderr", "iwae_k",
                  "active_units"):
            row[k] = metrics.get(k)
        rows.append(row)
    return rows


def results_table(rows: Sequence[dict]) -> str:
    """The rows as a plain-text table (one line per run)."""
    from ..text import fmt

    headers = ["dataset", "likelihood", "bin", "rec", "z", "seed", "epochs", "-ELBO", "IWAE NLL (k)", "active",
               "status"]
    lines = []
    for r in rows:
        iwae = "—" if r["iwae_nll"] is None else f"{r['iwae_nll']:.2f} ({r['iwae_k']})"
        lines.append([r["dataset"], r["likelihood"], r["binarize"], r["reconstruction"], str(r["latent_dim"]),
                      str(r["seed"]), str(r["epochs"]), fmt(r["test_neg_elbo"]), iwae,
                      "—" if r["active_units"] is None else str(r["active_units"]),
                      r["status"] if r["status"] != "failed" else f"FAILED: {r['error']}"])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    out += ["  ".join(v.ljust(w) for v, w in zip(l, widths)).rstrip() for l in lines]
    return "\n".join(out)
