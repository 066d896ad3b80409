"""Training: Adam on the batch-mean negative ELBO, one compiled graph per epoch.

The model and its loss are backend-neutral (``keras.ops``); this loop uses the
TensorFlow backend directly because it is where the time goes. A whole epoch
(shuffle, slicing, steps) runs as one ``tf.function`` with an XLA-compiled step,
so Python is touched once per epoch rather than 469 times: see
``benchmarks/train_speed.py`` for the measured alternatives.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np

from ..config import RunConfig
from .data import Dataset
from .model import VAE, build_vae
from ..progress import Progress, reporter



def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


#: Weight of the reconstruction term in the training objective, per ``RunConfig.reconstruction``:
#: ``sum`` is the ELBO; ``mean`` averages the cross-entropy over the 784 pixels (early versions of
#: the Keras example), which is the ELBO with the KL term weighted 784 times too heavily, divided by 784.
RECONSTRUCTION_WEIGHT = {"sum": 1.0, "mean": 1.0 / 784}


def binarize_batch(xb, seed: int, epoch_index, batch_index, n_batches: int):
    """A fresh binary draw of the grey batch ``xb``: each pixel 1 with probability its intensity.

    The draw is a stateless function of (``seed``, epoch, batch): the same run sees the same
    images, and every epoch sees new ones (dynamic binarization, Burda et al. 2016).
    """
    import tensorflow as tf

    counter = tf.cast(epoch_index, tf.int64) * n_batches + tf.cast(batch_index, tf.int64)
    u = tf.random.stateless_uniform(tf.shape(xb), seed=tf.stack([tf.constant(seed, tf.int64) + 7919, counter]))
    return tf.cast(u < xb, xb.dtype)


def make_epoch_function(model: VAE, optimizer, x_train, batch_size: int, seed: int, jit_compile: bool = True,
                        binarize: str = "none", reconstruction: str = "sum"):
    """A compiled function ``epoch(epoch_index) -> (loss, rec, kl)`` (means per image, on the ELBO's scale).

    ``binarize="dynamic"`` replaces every training batch by a fresh Bernoulli draw of its pixels
    (seeded by ``seed``, the epoch and the batch: reproducible, and different every epoch).
    ``reconstruction="mean"`` trains on the per-pixel mean reconstruction term (see
    :data:`RECONSTRUCTION_WEIGHT`); the returned numbers are always the summed ELBO terms.
    """
    import tensorflow as tf

    x = tf.constant(x_train)
    n = int(x_train.shape[0])
    n_batches = math.ceil(n / batch_size)
    variables = model.trainable_variables
    rec_weight = RECONSTRUCTION_WEIGHT[reconstruction]
    dynamic = binarize == "dynamic"

    def step(xb):
        with tf.GradientTape() as tape:
            rec, kl = model.loss_terms(xb)
            loss = tf.reduce_mean(rec_weight * rec + kl)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return tf.reduce_sum(rec), tf.reduce_sum(kl)

    step = tf.function(step, jit_compile=jit_compile)

    # A fixed signature: calling with a Python int must not retrace the graph every epoch.
    @tf.function(input_signature=[tf.TensorSpec([], tf.int64)])
    def epoch(epoch_index):
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch_index, tf.int64)]))
        rec_sum = tf.constant(0.0)
        kl_sum = tf.constant(0.0)
        for i in tf.range(n_batches):
            idx = perm[i * batch_size: tf.minimum((i + 1) * batch_size, n)]
            xb = tf.gather(x, idx)
            if dynamic:
                xb = binarize_batch(xb, seed, epoch_index, i, n_batches)
            r, k = step(xb)
            rec_sum += r
            kl_sum += k
        return (rec_sum + kl_sum) / n, rec_sum / n, kl_sum / n

    return epoch


def train(config: RunConfig, data: Dataset, progress: Progress = print, jit_compile: bool = True,
          callbacks=()):
    """Train a fresh model for ``config`` on ``data`` (already subset).

    Returns ``(model, history, epoch_seconds)``; ``history`` has per-epoch lists for
    ``loss``, ``reconstruction``, ``kl`` and their ``test_`` counterparts (nats per image).
    ``callbacks`` are Keras callbacks, called ``on_train_begin`` and ``on_epoch_end`` (with the
    epoch's history values as logs) after the epoch's test evaluation; a callback that only reads
    the model (:class:`vae_mnist.measures.trajectory.LatentRecorder`) leaves weights and history unchanged.
    """
    import keras

    from .evaluation import negative_elbo

    say = reporter(progress)
    model = build_vae(config.latent_dim, config.hidden_dim, config.likelihood, config.seed)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    optimizer.build(model.trainable_variables)
    if getattr(data, "binarize", "none") != config.binarize:
        raise ValueError(f"data prepared for binarize={getattr(data, 'binarize', 'none')!r}, "
                         f"run wants {config.binarize!r} (use vae_mnist.core.data.data_for)")
    epoch_fn = make_epoch_function(model, optimizer, data.x_train, config.batch_size, config.seed, jit_compile,
                                   binarize=config.binarize, reconstruction=config.reconstruction)

    keys = ["loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl"]
    history = {k: [] for k in keys}
    epoch_seconds = []
    hooks = keras.callbacks.CallbackList(list(callbacks), model=model) if callbacks else None
    if hooks is not None:
        hooks.on_train_begin()
    say(f"training {config.name()}: {len(data.x_train)} train / {len(data.x_test)} test images, "
        f"z={config.latent_dim}, {config.epochs} epochs, batch {config.batch_size}, seed {config.seed}")
    for e in range(config.epochs):
        t0 = time.perf_counter()
        loss, rec, kl = (float(v) for v in epoch_fn(e))
        epoch_seconds.append(time.perf_counter() - t0)
        if not all(math.isfinite(v) for v in (loss, rec, kl)):
            raise FloatingPointError(f"training diverged at epoch {e + 1}: loss {loss}")
        test = negative_elbo(model, data.x_test, seed=config.seed)
        for k, v in zip(keys, (loss, rec, kl, test["neg_elbo"], test["reconstruction"], test["kl"])):
            history[k].append(float(v))
        if hooks is not None:
            hooks.on_epoch_end(e, {k: history[k][-1] for k in keys})
        per_epoch = statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else epoch_seconds[0]
        left = per_epoch * (config.epochs - e - 1)
        say(f"epoch {e + 1:>3}/{config.epochs}  loss {loss:8.2f}  (rec {rec:8.2f}  kl {kl:6.2f})  "
            f"test {test['neg_elbo']:8.2f}  {epoch_seconds[-1]:5.1f}s  ~{_fmt_duration(left)} left")
    return model, history, epoch_seconds


def seconds_per_epoch(epoch_seconds) -> float:
    """Median epoch time, leaving out the first epoch (graph tracing and compilation)."""
    rest = epoch_seconds[1:] or epoch_seconds
    return float(np.median(rest))
