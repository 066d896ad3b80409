"""Aggregation for the beyond-the-paper chapters: which runs, and the seed-spread and sweep tables."""
import math
import types

import pytest

from vae_mnist import RunConfig
from vae_mnist.measures import tables as beyond_tables
from vae_mnist import profiles
from vae_mnist import text as tables


def _run(z, seed, neg_elbo, iwae=None, au=None, likelihood="bernoulli"):
    metrics = {"test_neg_elbo": neg_elbo, "test_reconstruction": neg_elbo - 20.0, "test_kl": 20.0,
               "test_size": 10000}
    if iwae is not None:
        metrics.update(iwae_nll=iwae, iwae_stderr=0.2, iwae_k=1000, iwae_seconds=60.0)
    if au is not None:
        metrics["active_units"] = au
    return types.SimpleNamespace(metrics=metrics, config=RunConfig(latent_dim=z, seed=seed, likelihood=likelihood))


def test_seed_spread_is_mean_and_sample_sd_per_latent_size():
    runs = [_run(2, 0, 150.0, 147.0, 2), _run(2, 1, 152.0, 149.0, 2), _run(2, 2, 151.0, 148.0, 2),
            _run(20, 0, 101.0, 97.0, 20)]
    table = beyond_tables.seed_spread_table(runs)
    assert [r["latent_dim"] for r in table] == [2, 20]
    z2, z20 = table
    assert z2["n_seeds"] == 3 and z2["seeds"] == [0, 1, 2]
    assert z2["neg_elbo_mean"] == pytest.approx(151.0) and z2["neg_elbo_sd"] == pytest.approx(1.0)
    assert z2["iwae_nll_mean"] == pytest.approx(148.0) and z2["active_units_sd"] == pytest.approx(0.0)
    assert z20["n_seeds"] == 1 and math.isnan(z20["neg_elbo_sd"])
    assert tables.format_spread(z2["neg_elbo_mean"], z2["neg_elbo_sd"]) == "151.00 ± 1.00"
    assert tables.format_spread(z20["neg_elbo_mean"], z20["neg_elbo_sd"]) == "101.00"


def test_a_metric_missing_for_one_seed_is_not_averaged_over_the_others():
    table = beyond_tables.seed_spread_table([_run(10, 0, 105.0, 102.0), _run(10, 1, 106.0)])
    assert table[0]["iwae_nll_mean"] is None and table[0]["neg_elbo_mean"] == pytest.approx(105.5)
    assert tables.format_spread(None, None) == "—"


def test_sweep_rows_are_sorted_and_carry_the_elbo_iwae_gap():
    rows = beyond_tables.sweep_table([_run(20, 0, 101.0, 97.5, 19), _run(2, 0, 150.0, 147.0, 2)])
    assert [r["latent_dim"] for r in rows] == [2, 20]
    assert rows[1]["gap"] == pytest.approx(3.5) and rows[1]["active_units"] == 19


def test_the_book_adds_the_sweep_the_gaussian_decoder_and_fashion(monkeypatch):
    monkeypatch.delenv("VAE_MNIST_PROFILE", raising=False)
    full = profiles.beyond_configs("full")
    assert [c.latent_dim for c in profiles.sweep_configs("full")] == [2, 5, 10, 20, 50]
    assert RunConfig(latent_dim=20, likelihood="gaussian") in full
    assert RunConfig(latent_dim=2, dataset="fashion-mnist") in full
    assert len(full) == len(set(full)) == 7
    smoke = profiles.beyond_configs("smoke")
    assert all(c.epochs == 1 and c.test_subset == 500 for c in smoke)
    assert profiles.iwae_k("full") == 1000
    # With several seeds the headline models' every seed gets the bound too (and the 2 binarized runs).
    assert len(profiles.iwae_configs("full", seeds=3)) == 7 + 2 + 6


def test_the_book_adds_the_mean_reconstruction_and_binarized_runs_with_the_literature_k():
    runs = profiles.book_runs("full", seeds=1)
    assert len(runs) == len(set(runs)) == 11
    assert RunConfig(latent_dim=2, reconstruction="mean") in runs
    assert RunConfig(latent_dim=20, reconstruction="mean") in runs
    assert RunConfig(latent_dim=50, binarize="dynamic") in runs
    assert profiles.iwae_k_for(RunConfig(latent_dim=50, binarize="dynamic"), "full") == 5000
    assert profiles.iwae_k_for(RunConfig(latent_dim=50), "full") == 1000
    assert RunConfig(latent_dim=2, reconstruction="mean") not in profiles.iwae_configs("full")
