"""The paper's MLP VAE: 784 -> 512 (ReLU) -> (mean, log-variance) ; z -> 512 (ReLU) -> 784.

The encoder and decoder are plain functional Keras models (so ``summary()`` and the
architecture figures show their real layers, shapes and parameter counts). The VAE
holds both, a seeded random generator for the reparameterization trick and, for a
Gaussian decoder, the fixed observation log-variance. It is registered serializable:
``keras.models.load_model("model.keras")`` gives it back with identical outputs.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from . import losses

INPUT_DIM = 784
# Gaussian decoder: one observation log-variance shared by all pixels, learned with the
# networks (a calibrated decoder, Rybkin et al. 2021); it starts at sigma = GAUSSIAN_SIGMA.
# See the decoder chapter for why it is learned rather than fixed.
GAUSSIAN_SIGMA = 0.1


def build_encoder(latent_dim: int, hidden_dim: int = 512, input_dim: int = INPUT_DIM) -> keras.Model:
    x = keras.Input(shape=(input_dim,), name="image")
    h = layers.Dense(hidden_dim, activation="relu", name="encoder_hidden")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(x, [z_mean, z_log_var], name="encoder")


def build_decoder(latent_dim: int, hidden_dim: int = 512, output_dim: int = INPUT_DIM) -> keras.Model:
    z = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(hidden_dim, activation="relu", name="decoder_hidden")(z)
    # Logits; the pixel means are sigmoid(logits) (Bernoulli probabilities or Gaussian means).
    logits = layers.Dense(output_dim, name="decoder_logits")(h)
    return keras.Model(z, logits, name="decoder")


@keras.saving.register_keras_serializable(package="vae_mnist")
class VAE(keras.Model):
    """Encoder, decoder and the per-example loss terms of the paper's VAE."""

    def __init__(self, latent_dim: int = 20, hidden_dim: int = 512, input_dim: int = INPUT_DIM,
                 likelihood: str = "bernoulli", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be bernoulli or gaussian, got {likelihood!r}")
        self.latent_dim = int(latent_dim)
        self.hidden_dim = int(hidden_dim)
        self.input_dim = int(input_dim)
        self.likelihood = likelihood
        self.seed = int(seed)
        self.encoder = build_encoder(self.latent_dim, self.hidden_dim, self.input_dim)
        self.decoder = build_decoder(self.latent_dim, self.hidden_dim, self.input_dim)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.observation_log_var = None
        if likelihood == "gaussian":
            self.observation_log_var = self.add_weight(
                shape=(), name="observation_log_var", trainable=True,
                initializer=keras.initializers.Constant(2.0 * math.log(GAUSSIAN_SIGMA)))
        self.build((None, self.input_dim))

    def build(self, input_shape):
        self.built = True

    # -- pieces ---------------------------------------------------------------------
    def encode(self, x):
        """(mean, log_var) of q(z|x)."""
        z_mean, z_log_var = self.encoder(x)
        return z_mean, z_log_var

    def sample_posterior(self, z_mean, z_log_var, seed=None):
        return losses.reparameterize(z_mean, z_log_var, seed=self.seed_generator if seed is None else seed)

    def decode_logits(self, z):
        return self.decoder(z)

    def decode(self, z):
        """Pixel means in [0, 1]: Bernoulli probabilities or Gaussian means."""
        return ops.sigmoid(self.decoder(z))

    def reconstruction_nll(self, x, logits):
        """-log p(x|z) per example (nats)."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_nll(x, logits)
        log_var = ops.cast(self.observation_log_var, logits.dtype)
        return losses.gaussian_nll(x, ops.sigmoid(logits), log_var)

    def loss_terms(self, x, seed=None):
        """(reconstruction, kl) per example, one posterior sample each."""
        z_mean, z_log_var = self.encode(x)
        z = self.sample_posterior(z_mean, z_log_var, seed=seed)
        rec = self.reconstruction_nll(x, self.decode_logits(z))
        kl = losses.kl_to_standard_normal(z_mean, z_log_var)
        return rec, kl

    def call(self, x, training=False):
        """Reconstruction (pixel means) of x through one posterior sample."""
        z_mean, z_log_var = self.encode(x)
        z = self.sample_posterior(z_mean, z_log_var)
        return self.decode(z)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, hidden_dim=self.hidden_dim, input_dim=self.input_dim,
                      likelihood=self.likelihood, seed=self.seed)
        return config


def build_vae(latent_dim: int = 20, hidden_dim: int = 512, likelihood: str = "bernoulli", seed: int = 0) -> VAE:
    """A freshly initialised VAE; weights are drawn from Keras's seeded initialisers."""
    keras.utils.set_random_seed(seed)
    return VAE(latent_dim=latent_dim, hidden_dim=hidden_dim, likelihood=likelihood, seed=seed, name="vae")
