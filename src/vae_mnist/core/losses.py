"""The terms of the VAE loss as pure functions of tensors (Keras 3 ``keras.ops``).

Every function returns one value per example (summed over pixels or latent
dimensions), in nats, so a batch objective is its mean.
"""
from __future__ import annotations

import math

import keras
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def kl_to_standard_normal(mean, log_var):
    """KL( N(mean, diag(exp(log_var))) || N(0, I) ), summed over latent dimensions.

    Closed form: 0.5 * sum(mean^2 + var - log_var - 1).
    """
    return 0.5 * ops.sum(ops.square(mean) + ops.exp(log_var) - log_var - 1.0, axis=-1)


def kl_per_dimension(mean, log_var):
    """The closed-form KL, one value per latent dimension (not summed)."""
    return 0.5 * (ops.square(mean) + ops.exp(log_var) - log_var - 1.0)


def bernoulli_nll(x, logits):
    """-log p(x|z) for a Bernoulli decoder, from logits, summed over pixels.

    Equal to binary cross-entropy sum_i -[x_i log s_i + (1 - x_i) log(1 - s_i)] with
    s = sigmoid(logits), computed stably as max(l, 0) - l * x + log(1 + exp(-|l|)).
    Valid for grey-level x in [0, 1] too (then it is a cross-entropy, not a log-probability).
    """
    per_pixel = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(per_pixel, axis=-1)


def gaussian_nll(x, mean, log_var):
    """-log N(x; mean, exp(log_var)) summed over pixels (``log_var`` broadcasts)."""
    per_pixel = 0.5 * (LOG_2PI + log_var + ops.square(x - mean) * ops.exp(-log_var))
    return ops.sum(per_pixel, axis=-1)


def log_standard_normal(z):
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * ops.sum(ops.square(z) + LOG_2PI, axis=-1)


def log_diag_gaussian(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))) summed over the last axis."""
    return -0.5 * ops.sum(LOG_2PI + log_var + ops.square(z - mean) * ops.exp(-log_var), axis=-1)


def reparameterize(mean, log_var, seed=None):
    """z = mean + exp(log_var / 2) * eps with eps ~ N(0, I): differentiable in mean and log_var.

    ``seed`` is an int or a ``keras.random.SeedGenerator`` (the model holds one, so
    sampling is reproducible for a given seed).
    """
    eps = keras.random.normal(ops.shape(mean), seed=seed, dtype=mean.dtype)
    return mean + ops.exp(0.5 * log_var) * eps
