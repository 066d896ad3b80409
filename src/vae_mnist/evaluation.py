"""Honest numbers for a trained model: test ELBO, importance-weighted bound, posterior diagnostics."""
from __future__ import annotations

import os
import tempfile
import time
import weakref
from pathlib import Path
from typing import Optional

import numpy as np
from keras import ops

from . import losses


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def negative_elbo(model, x, seed: int = 0, batch_size: int = 2000) -> dict:
    """Mean negative ELBO over ``x`` (nats per image) with its reconstruction and KL parts.

    One posterior sample per image; the noise comes from a fixed ``seed`` so the figure is
    reproducible. The KL is exact (closed form); the reconstruction is a one-sample estimate.
    """
    x = np.asarray(x, dtype="float32")
    rec_total = 0.0
    kl_total = 0.0
    for i, (a, b) in enumerate(_batches(len(x), batch_size)):
        rec, kl = model.loss_terms(x[a:b], seed=seed * 100003 + i)
        rec_total += float(ops.sum(rec))
        kl_total += float(ops.sum(kl))
    n = len(x)
    return {"neg_elbo": (rec_total + kl_total) / n, "reconstruction": rec_total / n, "kl": kl_total / n}


def encode_means(model, x, batch_size: int = 5000) -> np.ndarray:
    """Posterior means E[z|x] for every row of ``x``."""
    x = np.asarray(x, dtype="float32")
    out = [ops.convert_to_numpy(model.encode(x[a:b])[0]) for a, b in _batches(len(x), batch_size)]
    return np.concatenate(out, axis=0)


def encode(model, x, batch_size: int = 5000):
    """Posterior (means, log-variances) for every row of ``x``, as numpy arrays."""
    x = np.asarray(x, dtype="float32")
    means, log_vars = [], []
    for a, b in _batches(len(x), batch_size):
        m, lv = model.encode(x[a:b])
        means.append(ops.convert_to_numpy(m))
        log_vars.append(ops.convert_to_numpy(lv))
    return np.concatenate(means), np.concatenate(log_vars)


def decode(model, z, batch_size: int = 5000) -> np.ndarray:
    """Decoded pixel means (in [0, 1]) for every row of ``z``."""
    z = np.asarray(z, dtype="float32")
    return np.concatenate([ops.convert_to_numpy(model.decode(z[a:b])) for a, b in _batches(len(z), batch_size)])


def kl_per_dimension(model, x) -> np.ndarray:
    """Mean over ``x`` of the closed-form KL in each latent dimension (nats)."""
    means, log_vars = encode(model, x)
    return np.asarray(ops.convert_to_numpy(losses.kl_per_dimension(means, log_vars))).mean(axis=0)


def posterior_mean_variance(model, x) -> np.ndarray:
    """Variance over ``x`` of each latent dimension's posterior mean, Var_x(E_q[z_u|x])."""
    return encode_means(model, x).astype("float64").var(axis=0)


def active_units(model, x, threshold: float = 0.01) -> int:
    """Number of latent dimensions whose posterior mean varies over ``x`` by more than ``threshold``.

    Burda et al. (2016): dimension u is active when Cov_x(E_q[z_u|x]) > 0.01.
    """
    return int(np.sum(posterior_mean_variance(model, x) > threshold))


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


def iwae_bound(model, x, k: int = 1000, seed: int = 0, batch_size: Optional[int] = None,
               progress=None, per_image: bool = False) -> dict:
    """The k-sample importance-weighted estimate of -log p(x) (nats per image), with its standard error.

    For each image, log p̂(x) = log (1/k) sum_j p(x, z_j) / q(z_j|x) with z_j ~ q(z|x)
    (Burda et al., 2016). Its expectation is a lower bound on log p(x) that tightens as k grows
    and equals the ELBO at k = 1, so the returned ``nll`` (the mean of -log p̂(x)) is an upper
    bound on the true negative log-likelihood and lies below the negative ELBO.

    The work is batched: ``batch_size`` images (default: as many as fit ``IWAE_ROWS`` rows of
    samples, at least one) go through one compiled call; when k exceeds ``IWAE_ROWS`` the
    samples of an image are split into sub-chunks and combined by log-sum-exp, so memory stays
    bounded (k = 5000 included). The noise is drawn from a stateless generator keyed on
    ``seed`` and the chunk, so the same ``(seed, k, batch_size)`` gives the same numbers.

    Returns ``{"nll", "stderr", "k", "n", "seconds"}``; ``stderr`` is the standard deviation of
    the per-image values over sqrt(n) (the spread over test images, which dominates the
    Monte-Carlo noise of the estimate). With ``per_image=True`` the result also holds
    ``"per_image"``, the array of -log p̂(x) for every image.
    """
    import tensorflow as tf

    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    x = np.asarray(x, dtype="float32").reshape(len(x), -1)
    n = len(x)
    if n == 0:
        raise ValueError("iwae_bound needs at least one image")
    t0 = time.perf_counter()
    k_chunk = min(k, IWAE_ROWS)
    n_sub = -(-k // k_chunk)
    k_chunk = -(-k // n_sub)                     # balanced sub-chunks: sizes k_chunk or k_chunk - 1
    sizes = [k_chunk] * (k - n_sub * (k_chunk - 1)) + [k_chunk - 1] * (n_sub * k_chunk - k)
    if batch_size is None:
        batch_size = max(1, IWAE_ROWS // k_chunk)
    batch_size = int(batch_size)
    fn = _log_weights_for(model)
    values = np.empty(n, dtype="float64")
    next_report = time.perf_counter() + 10.0
    for i, (a, b) in enumerate(_batches(n, batch_size)):
        xb = tf.constant(x[a:b])
        total = None
        for j, size in enumerate(sizes):
            s = tf.constant([seed, i * n_sub + j], dtype=tf.int64)
            lse = fn(xb, s, tf.constant(size, tf.int32)).numpy().astype("float64")
            total = lse if total is None else np.logaddexp(total, lse)
        values[a:b] = -(total - np.log(k))
        if progress is not None and (time.perf_counter() >= next_report or b == n):
            elapsed = time.perf_counter() - t0
            eta = elapsed / b * (n - b)
            progress(f"IWAE k={k}: {b}/{n} images, {elapsed:.0f}s elapsed"
                     + (f", about {eta:.0f}s left" if b < n else " (done)"))
            next_report = time.perf_counter() + 10.0
    seconds = time.perf_counter() - t0
    nll = float(values.mean())
    stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    out = {"nll": nll, "stderr": stderr, "k": k, "n": int(n), "seconds": seconds}
    if per_image:
        out["per_image"] = values
    return out


# --------------------------------------------------------------------------------------
# Extra metrics stored in a run's metrics.json
#: Where a run keeps the IWAE bound's per-image values (for paired comparisons, vae_mnist.comparison).
PER_IMAGE_FILE = "iwae_per_image_k{k}.npy"


def _save_atomically(path: Path, values: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, values)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def store_per_image(run, k: int, values) -> Path:
    """Keep ``values`` (one per test image of ``run``, at ``k`` samples) in the run folder."""
    path = Path(run.path) / PER_IMAGE_FILE.format(k=int(k))
    _save_atomically(path, np.asarray(values, dtype="float64"))
    return path



# --------------------------------------------------------------------------------------
def missing_extra_metrics(metrics: dict, k: Optional[int]) -> tuple:
    """``(IWAE bound missing, posterior diagnostics missing)`` for ``metrics`` and a bound at ``k``
    (``None``: no bound asked for). The one rule for what a run's metrics still lack."""
    need_iwae = k is not None and (metrics.get("iwae_k") != int(k) or "iwae_nll" not in metrics)
    need_diag = "active_units" not in metrics or "kl_per_dimension" not in metrics
    return need_iwae, need_diag


def ensure_extra_metrics(run, k: int = 1000, data=None, progress=None) -> dict:
    """Add what ``run``'s ``metrics.json`` lacks: the IWAE bound at ``k`` and the posterior diagnostics.

    Writes ``iwae_nll``, ``iwae_stderr``, ``iwae_k``, ``iwae_seconds`` (recomputed only when
    missing or computed with another k), ``active_units`` and ``kl_per_dimension`` (a list, one
    value per latent dimension), all on the run's own test set, and returns the updated metrics.
    The bound's per-image values are kept beside them (:func:`vae_mnist.comparison.iwae_per_image`).
    Nothing is recomputed when everything is there, so chapters can call it freely.
    """
    metrics = run.metrics
    new = {}
    need_iwae, need_diag = missing_extra_metrics(metrics, k)
    if not (need_iwae or need_diag):
        return metrics
    from .datasets import run_data

    data = run_data(run.config, data=data)
    x = data.x_test
    model = run.model
    if need_diag:
        new["active_units"] = active_units(model, x)
        new["kl_per_dimension"] = [float(v) for v in kl_per_dimension(model, x)]
    if need_iwae:
        if progress is not None:
            progress(f"{run.path.name}: IWAE bound with k={k} on {len(x)} test images")
        iw = iwae_bound(model, x, k=int(k), seed=run.config.seed, progress=progress, per_image=True)
        store_per_image(run, int(k), iw["per_image"])
        new.update(iwae_nll=iw["nll"], iwae_stderr=iw["stderr"], iwae_k=iw["k"], iwae_seconds=iw["seconds"])
    return run.update_metrics(**new)
