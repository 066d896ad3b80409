"""The Gaussian decoder: its loss against a hand computation in numpy, its learned variance."""
import keras
import numpy as np
import pytest
from keras import ops

import helpers
from vae_mnist.core.model import GAUSSIAN_SIGMA, build_vae


def _np_forward(model, x, eps):
    """Encoder, reparameterization, decoder and both loss terms, by hand in numpy (float64)."""
    w = {v.path: np.asarray(v.numpy(), dtype="float64") for v in model.weights}
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    h = relu(x @ w["encoder_hidden/kernel"] + w["encoder_hidden/bias"])
    mean = h @ w["z_mean/kernel"] + w["z_mean/bias"]
    log_var = h @ w["z_log_var/kernel"] + w["z_log_var/bias"]
    z = mean + np.exp(0.5 * log_var) * eps
    hd = relu(z @ w["decoder_hidden/kernel"] + w["decoder_hidden/bias"])
    mu = 1.0 / (1.0 + np.exp(-(hd @ w["decoder_logits/kernel"] + w["decoder_logits/bias"])))
    s2 = np.exp(float(model.observation_log_var.numpy()))
    # -log N(x; mu, s2 I) = sum_i [ (x_i - mu_i)^2 / (2 s2) + log(2 pi s2) / 2 ]
    rec = np.sum((x - mu) ** 2 / (2 * s2) + 0.5 * np.log(2 * np.pi * s2), axis=1)
    kl = 0.5 * np.sum(mean ** 2 + np.exp(log_var) - log_var - 1.0, axis=1)
    return rec, kl


@pytest.mark.parametrize("log_var", [None, -3.0])
def test_gaussian_loss_matches_a_hand_computation(log_var):
    model = build_vae(latent_dim=3, likelihood="gaussian", seed=2)
    if log_var is not None:
        model.observation_log_var.assign(log_var)
    x = helpers.tiny(train=1, test=16).x_test.astype("float64")
    rec, kl = model.loss_terms(x.astype("float32"), seed=7)
    # The same noise the model drew: keras.random.normal with the same integer seed and shape.
    eps = ops.convert_to_numpy(keras.random.normal((16, 3), seed=7, dtype="float32")).astype("float64")
    rec_np, kl_np = _np_forward(model, x, eps)
    np.testing.assert_allclose(ops.convert_to_numpy(rec), rec_np, rtol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(kl), kl_np, rtol=1e-4, atol=1e-5)


def test_gaussian_variance_starts_at_sigma_is_trained_and_survives_save_and_load(tmp_path):
    model = build_vae(latent_dim=2, likelihood="gaussian", seed=0)
    assert float(model.observation_log_var.numpy()) == pytest.approx(2 * np.log(GAUSSIAN_SIGMA))
    assert any(v is model.observation_log_var for v in model.trainable_variables)
    import tensorflow as tf

    x = helpers.tiny(train=1, test=8).x_test
    with tf.GradientTape() as tape:
        rec, kl = model.loss_terms(x, seed=0)
        loss = tf.reduce_mean(rec + kl)
    grad = tape.gradient(loss, model.observation_log_var)
    assert grad is not None and float(grad) != 0.0
    model.observation_log_var.assign(-2.5)
    model.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    assert loaded.likelihood == "gaussian"
    assert float(loaded.observation_log_var.numpy()) == pytest.approx(-2.5)
    np.testing.assert_array_equal(ops.convert_to_numpy(model.loss_terms(x, seed=1)[0]),
                                  ops.convert_to_numpy(loaded.loss_terms(x, seed=1)[0]))


def test_bernoulli_model_has_no_observation_variance():
    model = build_vae(latent_dim=2)
    assert model.observation_log_var is None
    assert all("observation" not in v.path for v in model.weights)
