"""The importance-weighted bound on -log p(x) (Burda, Grosse and Salakhutdinov, 2016), in slices if need be.

:func:`iwae_bound` estimates the bound over a set of test images; ``images=(a, b)`` computes it for
a slice only, with exactly the noise the whole pass gives those images (the generator is keyed on
the batch's place in the whole set), so per-image values computed slice by slice, on as many
processes as there are slices (:mod:`vae_mnist.jobs.bound_tasks`), are bit-identical to one pass:
:func:`iwae_slices` cuts a set on the batches' boundaries and :func:`bound_summary` makes the bound
from the concatenated values. The decoder's weights are taken out of a model here
(:func:`decoder_weights`, also what the explorer exports); a run keeps its per-image values beside
its metrics (:func:`store_per_image`).
"""
from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

# (Keras and TensorFlow are imported where the bound is computed, so that the decoder-weight helpers
# here serve the widgets without starting TensorFlow.)


# --------------------------------------------------------------------------------------
# The importance-weighted bound (Burda, Grosse and Salakhutdinov, 2016)
# --------------------------------------------------------------------------------------
#: Rows (images x samples) pushed through the decoder at once: 8192 x 784 float32 logits are
#: 26 MB, so a chunk stays well inside the 2 GiB budget even for k = 5000 (one image per chunk).
IWAE_ROWS = 8192
#: Pixels whose softplus terms share one logarithm in the Bernoulli log-likelihood (see _make_log_weights).
SOFTPLUS_GROUP = 8


def decoder_dense_layers(model) -> list:
    """The Dense layers of the decoder (``model`` a VAE, or the decoder itself), input to output."""
    decoder = getattr(model, "decoder", model)
    return [layer for layer in decoder.layers
            if getattr(layer, "kernel", None) is not None and len(layer.kernel.shape) == 2]


def decoder_weights(model) -> list:
    """``[(kernel, bias), ...]`` (float32 arrays) of the decoder's two Dense layers, input to output.

    The one place the decoder's weights are taken out of a model: the explorer exports these, and
    the IWAE bound's fast algebra (:func:`_decoder_weights`) reads the same layers' variables.
    """
    layers = decoder_dense_layers(model)
    if len(layers) != 2:
        raise ValueError(f"expected a decoder with two Dense layers, found {len(layers)}")
    return [tuple(np.asarray(w, dtype="<f4") for w in layer.get_weights()[:2]) for layer in layers]


def _decoder_weights(model):
    """The variables (W1, b1, W2, b2) of the decoder's two Dense layers, or ``None`` for another architecture."""
    dense = decoder_dense_layers(model)
    if len(dense) != 2 or getattr(dense[0], "activation", None) is None:
        return None
    import keras

    if dense[0].activation is not keras.activations.relu or dense[1].activation is not keras.activations.linear:
        return None
    return tuple(getattr(w, "value", w) for w in (dense[0].kernel, dense[0].bias, dense[1].kernel, dense[1].bias))


def _gaussian_log_var(model):
    """The Gaussian decoder's per-pixel observation log-variance (its variable, or a constant)."""
    from . import model as _model

    value = getattr(model, "observation_log_var", None)
    if value is not None:
        return getattr(value, "value", value)
    return 2.0 * float(np.log(_model.GAUSSIAN_SIGMA))


#: Compiled log-weight functions per model (and per formulation), so repeated calls do not retrace.
_COMPILED = weakref.WeakKeyDictionary()


def _log_weights_for(model):
    weights = _decoder_weights(model)
    per_model = _COMPILED.setdefault(model, {})
    key = weights is not None
    if key not in per_model:
        per_model[key] = _make_log_weights(model, weights)
    return per_model[key]


def _make_log_weights(model, weights):
    """A compiled ``f(x, seed, k) -> logsumexp_k log w`` for a batch of images.

    log w = log p(x|z) + log p(z) - log q(z|x) with z = mean + sigma * eps. Three things keep
    the cost close to the one unavoidable product, the 512 x 784 output layer for every sample:

    * log p(z) - log q(z|x) = sum_d (eps_d^2 - z_d^2 + log_var_d) / 2 (the 2 pi terms cancel);
    * for a Bernoulli decoder, log p(x|z) = x . l - sum_i softplus(l_i) with logits
      l = W2^T h + b2, and x . l = (W2 x) . h + x . b2: x is projected once per image
      (a 512-vector) instead of multiplying 784 logits by x for each of the k samples;
    * the bias add, the softplus and the sum over pixels run as one XLA-fused loop, with one
      logarithm per 8 pixels (``softplus_sum``). The matrix products stay in TensorFlow's own
      kernels (oneDNN), which are faster on CPU than XLA's, and so does the random generator
      (XLA's stateless normal generator is slow on CPU).
    """
    import tensorflow as tf

    from . import losses

    bernoulli = model.likelihood == "bernoulli"
    log_var_x = None if bernoulli else _gaussian_log_var(model)
    encoder = model.encoder
    softplus_sum = None
    if weights is not None:
        w1, b1, w2, b2 = weights  # variables: the compiled function reads their current values
        n_pix = int(w2.shape[1])
        group = SOFTPLUS_GROUP if n_pix % SOFTPLUS_GROUP == 0 else 1

        @tf.function(jit_compile=True, autograph=False)
        def softplus_sum(lin):
            """sum_i softplus(lin_i + b2_i), fused by XLA, with one logarithm per ``group`` pixels.

            softplus(l) = relu(l) + log(1 + exp(-|l|)), and each factor 1 + exp(-|l|) lies in
            (1, 2], so a product of 8 of them stays in (1, 256]: log of the product replaces 8
            log1p's (rounding error below 1e-4 nats per image).
            """
            l = lin + b2
            if group == 1:
                return tf.reduce_sum(tf.nn.softplus(l), axis=-1)
            factors = tf.reshape(1.0 + tf.exp(-tf.abs(l)), tf.stack([tf.shape(l)[0], n_pix // group, group]))
            return tf.reduce_sum(tf.nn.relu(l), axis=-1) + tf.reduce_sum(tf.math.log(tf.reduce_prod(factors, -1)), -1)

    def log_weights(x, seed, k):
        b = tf.shape(x)[0]
        mean, log_var = encoder(x)
        d = tf.shape(mean)[1]
        eps = tf.random.stateless_normal(tf.stack([b, k, d]), seed=seed, dtype=mean.dtype)
        z = mean[:, None, :] + tf.exp(0.5 * log_var)[:, None, :] * eps          # (b, k, d)
        prior_minus_q = 0.5 * tf.reduce_sum(tf.square(eps) - tf.square(z) + log_var[:, None, :], axis=-1)
        z2 = tf.reshape(z, tf.stack([b * k, d]))
        if weights is not None:
            h = tf.nn.relu(tf.matmul(z2, w1) + b1)                                 # (b*k, 512)
            lin = tf.matmul(h, w2)                                                 # (b*k, 784), no bias
            logits = None if bernoulli else lin + b2
        else:
            h = None
            logits = model.decode_logits(z2)
        if bernoulli:
            if h is not None:
                sp_sum = tf.reshape(softplus_sum(lin), tf.stack([b, k]))
            else:
                sp_sum = tf.reshape(tf.reduce_sum(tf.nn.softplus(logits), axis=-1), tf.stack([b, k]))
            if h is not None:
                xw = tf.matmul(x, w2, transpose_b=True)                            # (b, 512) = (W2 x)
                h3 = tf.reshape(h, tf.stack([b, k, tf.shape(h)[1]]))
                x_dot_l = tf.einsum("bkh,bh->bk", h3, xw) + tf.linalg.matvec(x, b2)[:, None]
            else:
                x_dot_l = tf.einsum("bkp,bp->bk", tf.reshape(logits, tf.stack([b, k, -1])), x)
            log_px = x_dot_l - sp_sum
        else:
            means = tf.reshape(tf.sigmoid(logits), tf.stack([b, k, -1]))
            sq = tf.reduce_sum(tf.square(x[:, None, :] - means), axis=-1)
            n_pix = tf.cast(tf.shape(x)[1], x.dtype)
            lv = tf.cast(log_var_x, x.dtype)
            log_px = -0.5 * (n_pix * (losses.LOG_2PI + lv) + sq * tf.exp(-lv))
        return tf.reduce_logsumexp(log_px + prior_minus_q, axis=1)                # (b,)

    # One trace for every batch size and k (both dynamic), so repeated calls never retrace.
    signature = [tf.TensorSpec([None, int(model.encoder.inputs[0].shape[-1])], tf.float32),
                 tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.int32)]
    return tf.function(log_weights, input_signature=signature, autograph=False)


def _plan(k: int, batch_size: Optional[int]) -> Tuple[List[int], int]:
    """The sample sub-chunk sizes of one image (balanced, none over ``IWAE_ROWS``) and the images per batch."""
    k_chunk = min(k, IWAE_ROWS)
    n_sub = -(-k // k_chunk)
    k_chunk = -(-k // n_sub)                     # balanced sub-chunks: sizes k_chunk or k_chunk - 1
    sizes = [k_chunk] * (k - n_sub * (k_chunk - 1)) + [k_chunk - 1] * (n_sub * k_chunk - k)
    return sizes, int(batch_size) if batch_size is not None else max(1, IWAE_ROWS // k_chunk)


def iwae_slices(n: int, k: int, parts: int, batch_size: Optional[int] = None) -> List[Tuple[int, int]]:
    """``parts`` (or fewer) slices ``(a, b)`` of ``n`` images, cut on the bound's batch boundaries, so
    that :func:`iwae_bound` with ``images=(a, b)`` gives each image the same value as one whole pass."""
    if parts < 1:
        raise ValueError(f"parts must be a positive integer, got {parts}")
    _, size = _plan(int(k), batch_size)
    batches = -(-n // size)
    cuts = sorted({min(n, round(i * batches / parts) * size) for i in range(parts)} | {n})
    return list(zip(cuts, cuts[1:]))


def bound_summary(values: Sequence[float], k: int, seconds: float) -> dict:
    """``{"nll", "stderr", "k", "n", "seconds"}`` from the per-image values of -log p̂(x)."""
    values = np.asarray(values, dtype="float64")
    n = len(values)
    stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"nll": float(values.mean()), "stderr": stderr, "k": int(k), "n": int(n), "seconds": float(seconds)}


def iwae_bound(model, x, k: int = 1000, seed: int = 0, batch_size: Optional[int] = None,
               progress=None, per_image: bool = False, images: Optional[Tuple[int, int]] = None) -> dict:
    """The k-sample importance-weighted estimate of -log p(x) (nats per image), with its standard error.

    For each image, log p̂(x) = log (1/k) sum_j p(x, z_j) / q(z_j|x) with z_j ~ q(z|x)
    (Burda et al., 2016). Its expectation is a lower bound on log p(x) that tightens as k grows
    and equals the ELBO at k = 1, so the returned ``nll`` (the mean of -log p̂(x)) is an upper
    bound on the true negative log-likelihood and lies below the negative ELBO.

    The work is batched: ``batch_size`` images (default: as many as fit ``IWAE_ROWS`` rows of
    samples, at least one) go through one compiled call; when k exceeds ``IWAE_ROWS`` the
    samples of an image are split into sub-chunks and combined by log-sum-exp, so memory stays
    bounded (k = 5000 included). The noise is drawn from a stateless generator keyed on
    ``seed`` and the chunk's place in ``x``, so the same ``(seed, k, batch_size)`` gives the same numbers.

    ``images=(a, b)``: only ``x[a:b]``, with the noise those images get in the whole pass (``a`` must
    start a batch: :func:`iwae_slices`). Returns ``{"nll", "stderr", "k", "n", "seconds"}`` over the
    images computed; ``stderr`` is the standard deviation of the per-image values over sqrt(n) (the
    spread over test images, which dominates the Monte-Carlo noise of the estimate). With
    ``per_image=True`` the result also holds ``"per_image"``, the array of -log p̂(x) for every image.
    """
    import tensorflow as tf

    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    x = np.asarray(x, dtype="float32").reshape(len(x), -1)
    if len(x) == 0:
        raise ValueError("iwae_bound needs at least one image")
    sizes, batch_size = _plan(k, batch_size)
    first, last = (0, len(x)) if images is None else (int(images[0]), min(int(images[1]), len(x)))
    if first % batch_size or not 0 <= first < last:
        raise ValueError(f"images={images}: not a slice of the {len(x)} images that starts a batch of {batch_size}")
    n = last - first
    t0 = time.perf_counter()
    fn = _log_weights_for(model)
    values = np.empty(n, dtype="float64")
    next_report = time.perf_counter() + 10.0
    for a in range(first, last, batch_size):
        b = min(a + batch_size, last)
        i = a // batch_size                      # the batch's place in the whole pass keys its noise
        xb = tf.constant(x[a:b])
        total = None
        for j, size in enumerate(sizes):
            s = tf.constant([seed, i * len(sizes) + j], dtype=tf.int64)
            lse = fn(xb, s, tf.constant(size, tf.int32)).numpy().astype("float64")
            total = lse if total is None else np.logaddexp(total, lse)
        values[a - first:b - first] = -(total - np.log(k))
        if progress is not None and (time.perf_counter() >= next_report or b == last):
            elapsed, done = time.perf_counter() - t0, b - first
            eta = elapsed / done * (n - done)
            progress(f"IWAE k={k}: {done}/{n} images, {elapsed:.0f}s elapsed"
                     + (f", about {eta:.0f}s left" if done < n else " (done)"))
            next_report = time.perf_counter() + 10.0
    out = bound_summary(values, k, time.perf_counter() - t0)
    if per_image:
        out["per_image"] = values
    return out
