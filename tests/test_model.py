"""Architecture, shapes and the Keras native save/load round trip."""
import keras
from keras import ops
import numpy as np
import pytest

import helpers
from vae_mnist.core.model import VAE, build_vae


@pytest.mark.parametrize("z", [2, 10, 20])
def test_shapes_and_parameter_counts(z):
    model = build_vae(latent_dim=z)
    x = np.random.default_rng(0).uniform(size=(5, 784)).astype("float32")
    mean, log_var = model.encode(x)
    assert tuple(mean.shape) == (5, z) and tuple(log_var.shape) == (5, z)
    assert tuple(model.decode(mean).shape) == (5, 784)
    assert tuple(model(x).shape) == (5, 784)
    rec, kl = model.loss_terms(x)
    assert tuple(rec.shape) == (5,) and tuple(kl.shape) == (5,)
    # 784 -> 512 -> (z, z) ; z -> 512 -> 784
    assert model.encoder.count_params() == 784 * 512 + 512 + 2 * (512 * z + z)
    assert model.decoder.count_params() == z * 512 + 512 + 512 * 784 + 784
    out = ops.convert_to_numpy(model.decode(mean))
    assert out.min() >= 0 and out.max() <= 1


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    model = build_vae(latent_dim=10, seed=4)
    x = helpers.tiny(train=10, test=1).x_train[:10]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, VAE)
    assert loaded.latent_dim == 10 and loaded.likelihood == "bernoulli"
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    z = np.random.default_rng(0).normal(size=(7, 10)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(model.decode(z)), ops.convert_to_numpy(loaded.decode(z)))
    r1, k1 = model.loss_terms(x, seed=11)
    r2, k2 = loaded.loss_terms(x, seed=11)
    np.testing.assert_array_equal(ops.convert_to_numpy(r1), ops.convert_to_numpy(r2))
    np.testing.assert_array_equal(ops.convert_to_numpy(k1), ops.convert_to_numpy(k2))


def test_seeded_initialisation_is_reproducible():
    a = build_vae(latent_dim=2, seed=1).get_weights()
    b = build_vae(latent_dim=2, seed=1).get_weights()
    c = build_vae(latent_dim=2, seed=2).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
