"""Run options beyond the paper's: dynamic binarization and the per-pixel mean reconstruction term."""
import numpy as np
import pytest

import helpers
from vae_mnist import ConfigError, RunConfig
from vae_mnist.core.data import TEST_BINARIZATION_SEED, binarize_test_images, data_for
from vae_mnist.core.training import RECONSTRUCTION_WEIGHT, binarize_batch, train


def test_options_are_in_the_cache_key_and_the_name():
    base = RunConfig(latent_dim=2)
    binarized = base.replace(binarize="dynamic")
    mean = base.replace(reconstruction="mean")
    assert len({base.key(), binarized.key(), mean.key()}) == 3
    assert "-bin-" in binarized.name() and "-bin" not in base.name()
    assert "-recmean-" in mean.name() and "recmean" not in base.name()


@pytest.mark.parametrize("field,value", [("binarize", "static"), ("binarize", ""), ("reconstruction", "avg")])
def test_bad_option_values_are_one_line_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value})


def test_the_binarized_test_set_is_binary_fixed_and_the_same_for_every_subset():
    full = data_for(RunConfig(binarize="dynamic"), helpers.mnist())
    again = data_for(RunConfig(binarize="dynamic", seed=5), helpers.mnist())
    small = data_for(RunConfig(binarize="dynamic", test_subset=300), helpers.mnist())
    assert set(np.unique(full.x_test)) == {0.0, 1.0}
    np.testing.assert_array_equal(full.x_test, again.x_test)      # independent of the run's seed
    np.testing.assert_array_equal(small.x_test, full.x_test[:300])
    grey = helpers.mnist().x_test
    assert abs(full.x_test.mean() - grey.mean()) < 0.002           # Bernoulli(intensity): same mean
    assert not np.array_equal(binarize_test_images(grey[:10], TEST_BINARIZATION_SEED + 1), full.x_test[:10])
    # training images stay grey: the loop binarizes them anew every epoch
    np.testing.assert_array_equal(full.x_train, helpers.mnist().x_train)


def test_training_batches_are_redrawn_every_epoch_and_reproducible():
    xb = helpers.tiny(200, 10).x_train[:128]
    e0 = np.asarray(binarize_batch(xb, 0, 0, 3, 469))
    e0_again = np.asarray(binarize_batch(xb, 0, 0, 3, 469))
    e1 = np.asarray(binarize_batch(xb, 0, 1, 3, 469))
    assert set(np.unique(e0)) == {0.0, 1.0}
    np.testing.assert_array_equal(e0, e0_again)
    assert (e0 != e1).mean() > 0.01                      # a new draw each epoch
    assert abs(e0.mean() - xb.mean()) < 0.01


@pytest.mark.slow
def test_mean_reconstruction_weights_the_kl_term_784_times_more():
    assert RECONSTRUCTION_WEIGHT["sum"] == 1.0
    assert RECONSTRUCTION_WEIGHT["mean"] * 784 == pytest.approx(1.0)
    data = helpers.tiny(1000, 200)
    summed = RunConfig(latent_dim=2, epochs=2, train_subset=1000, test_subset=200)
    mean = summed.replace(reconstruction="mean")
    _, h_sum, _ = train(summed, data, progress=None)
    _, h_mean, _ = train(mean, data, progress=None)
    # The heavy KL weight pushes the code towards the prior: far less KL, worse reconstruction.
    assert h_mean["test_kl"][-1] < 0.5 * h_sum["test_kl"][-1]
    assert h_mean["test_reconstruction"][-1] > h_sum["test_reconstruction"][-1]


@pytest.mark.slow
def test_a_dynamically_binarized_run_trains_on_binary_data():
    config = RunConfig(latent_dim=2, epochs=1, train_subset=500, test_subset=100, binarize="dynamic")
    data = data_for(config, helpers.mnist())
    _, history, _ = train(config, data, progress=None)
    assert np.isfinite(history["test_loss"][-1])
    with pytest.raises(ValueError, match="data_for"):
        train(config, helpers.tiny(500, 100), progress=None)   # grey data for a binarized run
