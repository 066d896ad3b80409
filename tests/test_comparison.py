"""The paired comparison of two models scored on the same test images (vae_mnist.measures.comparison)."""
from types import SimpleNamespace

import numpy as np
import pytest

import helpers
from vae_mnist import RunConfig
from vae_mnist.measures import comparison
from vae_mnist.measures.comparison import compare_runs, iwae_per_image, paired_difference
from vae_mnist.errors import VaeMnistError
from vae_mnist.core.iwae import iwae_bound
from vae_mnist.core.model import build_vae


def _correlated(n=10_000, shift=0.3, seed=0):
    """Per-image values of two models: a large shared image difficulty plus small model noise."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(100.0, 25.0, n)            # hard images are hard for both models
    a = difficulty + rng.normal(0.0, 1.0, n)
    b = difficulty - shift + rng.normal(0.0, 1.0, n)
    return a, b


def test_paired_standard_error_is_that_of_the_per_image_differences():
    a, b = _correlated()
    r = paired_difference(a, b)
    d = a - b
    assert r["diff"] == pytest.approx(d.mean())
    assert r["se_paired"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))
    assert r["se_a"] == pytest.approx(a.std(ddof=1) / 100.0)
    assert r["se_unpaired"] == pytest.approx(np.hypot(r["se_a"], r["se_b"]))
    assert r["n"] == 10_000 and r["correlation"] > 0.99


def test_the_unpaired_rule_misses_a_difference_the_paired_one_finds():
    """The old "2 x max(s.e.)" rule calls a real 0.3-nat difference noise; the paired rule does not."""
    a, b = _correlated(shift=0.3)
    r = paired_difference(a, b)
    assert abs(r["diff"]) < 2 * max(r["se_a"], r["se_b"])      # the old rule: "not resolved"
    assert abs(r["z"]) > 10                                      # paired: many standard errors
    assert r["se_paired"] < r["se_a"] / 10


def test_independent_values_give_no_paired_advantage():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    r = paired_difference(a, b)
    assert r["se_paired"] == pytest.approx(r["se_unpaired"], rel=0.05)


@pytest.mark.parametrize("a, b, message", [
    ([1.0, 2.0, 3.0], [1.0, 2.0], "same images"),
    ([1.0], [2.0], "at least two"),
    ([1.0, np.nan], [1.0, 2.0], "finite"),
])
def test_bad_input_is_one_clear_error(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(a, b)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two small untrained models 'run' on the same 60 test images (fake runs: folder, config, model)."""
    data = helpers.mnist().subset(100, 60)
    runs = []
    for z, seed in ((2, 0), (5, 1)):
        folder = tmp_path_factory.mktemp(f"run-z{z}")
        config = RunConfig(latent_dim=z, seed=seed, train_subset=100, test_subset=60)
        runs.append(SimpleNamespace(path=folder, config=config, model=build_vae(latent_dim=z, hidden_dim=32, seed=seed)))
    return runs, data


def test_per_image_values_are_the_stored_bound_and_are_kept_in_the_run_folder(two_runs):
    runs, data = two_runs
    run = runs[0]
    values = iwae_per_image(run, k=8, data=data)
    stored = run.path / comparison.PER_IMAGE_FILE.format(k=8)
    assert stored.is_file() and values.shape == (60,)
    # the same seed as ensure_extra_metrics: the mean is the bound the run's metrics hold
    bound = iwae_bound(run.model, data.subset(100, 60).x_test, k=8, seed=run.config.seed)
    assert values.mean() == pytest.approx(bound["nll"], rel=1e-9)
    # read back, not recomputed: a changed file is returned as it is
    np.save(stored, values + 1.0)
    assert np.allclose(iwae_per_image(run, k=8, data=data), values + 1.0)
    # a damaged or wrong-length file is recomputed
    stored.write_bytes(b"not a numpy file")
    assert np.allclose(iwae_per_image(run, k=8, data=data), values)
    np.save(stored, values[:10])
    assert np.allclose(iwae_per_image(run, k=8, data=data), values)


def test_compare_runs_pairs_the_same_test_images(two_runs):
    runs, data = two_runs
    for run in runs:
        iwae_per_image(run, k=8, data=data)
    r = compare_runs(runs[0], runs[1], k=8, data=data)
    a = np.load(runs[0].path / comparison.PER_IMAGE_FILE.format(k=8))
    b = np.load(runs[1].path / comparison.PER_IMAGE_FILE.format(k=8))
    assert r["diff"] == pytest.approx(a.mean() - b.mean())
    other = SimpleNamespace(path=runs[1].path, model=runs[1].model,
                            config=RunConfig(latent_dim=5, seed=1, train_subset=100, test_subset=50))
    with pytest.raises(VaeMnistError, match="not scored on the same test images"):
        compare_runs(runs[0], other, k=8)
