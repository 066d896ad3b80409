"""Build profiles and THE list of runs the book trains and shows.

* :func:`book_config` turns a latent size (and overrides) into the :class:`RunConfig` of the
  current profile (``full`` = the book's defaults, with the paper's 50 epochs and batch 128; ``smoke`` = 1 epoch on a data subset);
* :func:`headline_configs` are the paper's three models (one per seed);
* :func:`beyond_configs` are the runs the "Beyond the paper" chapters add;
* :func:`book_runs` is the list the build trains and executes a run page for.

Chapters call the same functions, so a chapter and the build never disagree about a run.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from .config import RunConfig
from . import settings

ENV_PROFILE = settings.PROFILE
ENV_SEEDS = settings.SEEDS

#: Settings each profile applies on top of the paper's (RunConfig defaults).
PROFILES = {
    "full": {},
    "smoke": {"epochs": 1, "train_subset": 2000, "test_subset": 500},
}

#: The paper's three models (Figures 5, 6, 7).
HEADLINE_LATENTS = (2, 10, 20)


def current_profile(profile: Optional[str] = None) -> str:
    """``profile`` if given, else ``$VAE_MNIST_PROFILE``, else ``full``."""
    return settings.choice(ENV_PROFILE, tuple(PROFILES), "full", value=profile)


def current_seeds(seeds: Optional[int] = None) -> int:
    """``seeds`` if given, else ``$VAE_MNIST_SEEDS``, else 1."""
    return settings.positive_int(ENV_SEEDS, 1, value=seeds)


def book_config(latent_dim: int, profile: Optional[str] = None, **overrides) -> RunConfig:
    """The configuration the book uses for latent size ``latent_dim`` under ``profile``.

    In the ``full`` profile with no overrides this is exactly ``RunConfig(latent_dim=z)``
    (the book's defaults), so runs trained with the CLI's defaults are reused.
    """
    settings = dict(PROFILES[current_profile(profile)])
    settings.update(overrides)
    return RunConfig(latent_dim=latent_dim, **settings)


def headline_configs(profile: Optional[str] = None, seeds: Optional[int] = None, latents=HEADLINE_LATENTS):
    """The paper's models (z = 2, 10, 20), one per seed 0 .. seeds-1, seed-major within z."""
    return [book_config(z, profile, seed=s) for z in latents for s in range(current_seeds(seeds))]


def book_runs(profile: Optional[str] = None, seeds: Optional[int] = None) -> List[RunConfig]:
    """Every run the book trains and shows as a run page (THE list; add new runs here)."""
    return unique_configs(headline_configs(profile, seeds) + beyond_configs(profile)
                          + mean_reconstruction_configs(profile) + binarized_configs(profile))


def unique_configs(configs: Iterable[RunConfig]) -> List[RunConfig]:
    """``configs`` without repeats, in their first order."""
    seen, out = set(), []
    for c in configs:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


#: Latent sizes of the sweep chapter (the paper's three plus 5 and 50).
SWEEP_LATENTS = (2, 5, 10, 20, 50)

#: k of the importance-weighted bound per build profile (the smoke build only checks the plumbing).
IWAE_K = {"full": 1000, "smoke": 50}
#: k of the bound for the runs compared with published numbers (the literature's k = 5000).
IWAE_K_LITERATURE = {"full": 5000, "smoke": 50}

#: Latent sizes trained with the per-pixel mean reconstruction term (the old Keras example's scale).
MEAN_RECONSTRUCTION_LATENTS = (2, 20)
#: Latent sizes trained on dynamically binarized MNIST (compared with Burda et al. 2016).
BINARIZED_LATENTS = (20, 50)

#: Latent size of the decoder-likelihood comparison and of the Fashion-MNIST run.
DECODER_LATENT = 20
FASHION_LATENT = 2


def iwae_k(profile: Optional[str] = None) -> int:
    """The number of importance samples the book uses under ``profile``."""
    return IWAE_K[current_profile(profile)]


def iwae_k_for(config: RunConfig, profile: Optional[str] = None) -> int:
    """k of the bound the book computes for ``config``: the literature's for binarized runs."""
    table = IWAE_K_LITERATURE if config.binarize != "none" else IWAE_K
    return table[current_profile(profile)]


def mean_reconstruction_configs(profile: Optional[str] = None) -> List[RunConfig]:
    """The paper's models trained with the reconstruction term averaged over pixels, not summed."""
    return [book_config(z, profile, reconstruction="mean") for z in MEAN_RECONSTRUCTION_LATENTS]


def binarized_configs(profile: Optional[str] = None) -> List[RunConfig]:
    """The paper's network on dynamically binarized MNIST (the literature's setting)."""
    return [book_config(z, profile, binarize="dynamic") for z in BINARIZED_LATENTS]


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
    return unique_configs(sweep_configs(profile) + list(decoder_configs(profile).values()) + [fashion_config(profile)])


def iwae_configs(profile: Optional[str] = None, seeds: Optional[int] = None) -> List[RunConfig]:
    """The runs whose IWAE bound the book computes (with k = :func:`iwae_k_for`).

    The sweep, the Gaussian decoder, Fashion-MNIST and the binarized runs (seed 0), and, when the
    build trains several seeds, every seed of the headline models (so the seed table can show its
    spread).
    """
    configs = beyond_configs(profile) + binarized_configs(profile)
    if current_seeds(seeds) > 1:
        configs += headline_configs(profile, seeds)
    return unique_configs(configs)
