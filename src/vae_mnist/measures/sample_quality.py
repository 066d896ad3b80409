"""Numbers behind the book's qualitative claims: classifier measures, latent-space k-NN, the KL split.

* prior samples (decoder means of z ~ N(0, I)): the classifier's mean confidence, the class
  distribution and its entropy in **nats** (log 10 ≈ 2.303 nats when every class is equally
  frequent), :func:`prior_sample_measures`;
* reconstructions (decoded posterior means) of test images: the share that keep the class the
  classifier gives the image itself, :func:`reconstruction_measures`;
* the test codes (posterior means) of a model: accuracy of a k-nearest-neighbour classifier
  fitted on the *training* codes, its confusion matrix and the most confused pairs of classes,
  :func:`knn_measures`;
* the average KL split into the mutual information I_q(x; z) and KL(q(z) || p(z)) of the
  aggregate posterior, :func:`kl_split`.

:func:`ensure_quality_metrics` stores them in a run's ``metrics.json`` (keys ``classifier_measures``
and ``kl_split``); the build calls it for every run, chapters only read.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

#: Prior samples per model for the classifier measures.
N_PRIOR_SAMPLES = 10_000
#: Seed of the prior codes (the same numpy convention as ``figures.prior_sample_images``, so the
#: 100 samples of the paper's figures are the first 100 of the ones measured here).
PRIOR_SEED = 0
#: Bump when what :func:`ensure_quality_metrics` stores changes: stored measures of another
#: version are recomputed.
MEASURES_VERSION = 2
#: A prior sample is "not clearly any digit" when no class gets this probability.
UNSURE = 0.5
#: Neighbours of the k-NN classifier on latent codes.
KNN_K = 10
#: Seed of the posterior samples of the KL split.
KL_SPLIT_SEED = 0


# --------------------------------------------------------------------------------------
# Plain helpers (numpy only)
# --------------------------------------------------------------------------------------
def prior_codes(latent_dim: int, n: int = N_PRIOR_SAMPLES, seed: int = PRIOR_SEED) -> np.ndarray:
    """``n`` codes z ~ N(0, I) drawn with numpy's generator seeded ``seed`` (shape ``(n, latent_dim)``)."""
    return np.random.default_rng(seed).standard_normal((int(n), int(latent_dim))).astype("float32")


def entropy_nats(counts) -> float:
    """Entropy (nats) of the distribution given by non-negative ``counts``."""
    p = np.asarray(counts, dtype="float64")
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: one class gives 0.0, not -0.0


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts ``C[i, j]`` of items of class ``i`` predicted as ``j``."""
    c = np.zeros((n_classes, n_classes), dtype="int64")
    np.add.at(c, (np.asarray(y_true, dtype="int64"), np.asarray(y_pred, dtype="int64")), 1)
    return c


def confused_pairs(confusion, top: Optional[int] = 3) -> list:
    """Unordered pairs of classes ``(a, b, count)`` by how often either is taken for the other, most first.

    ``count`` is ``C[a, b] + C[b, a]``; pairs never confused are left out.
    """
    c = np.asarray(confusion)
    pairs = [(a, b, int(c[a, b] + c[b, a])) for a in range(len(c)) for b in range(a + 1, len(c))]
    pairs = sorted((p for p in pairs if p[2] > 0), key=lambda p: (-p[2], p[0], p[1]))
    return pairs if top is None else pairs[:top]


def knn_predict(train_codes, train_labels, test_codes, k: int = KNN_K, chunk: int = 500) -> np.ndarray:
    """Majority label of the ``k`` nearest training codes (Euclidean) of every test code.

    Ties go to the smallest of the labels with the most votes (deterministic).
    """
    train = np.asarray(train_codes, dtype="float64")
    labels = np.asarray(train_labels, dtype="int64")
    test = np.asarray(test_codes, dtype="float64")
    k = min(int(k), len(train))
    n_classes = int(labels.max()) + 1
    t2 = (train ** 2).sum(axis=1)
    out = np.empty(len(test), dtype="int64")
    for a in range(0, len(test), chunk):
        q = test[a:a + chunk]
        d = t2[None, :] - 2.0 * q @ train.T  # + |q|^2, the same for every training code of a row
        nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(q), n_classes), dtype="int64")
        np.add.at(votes, (np.repeat(np.arange(len(q)), k), labels[nearest].ravel()), 1)
        out[a:a + chunk] = votes.argmax(axis=1)
    return out


def kl_split(means, log_vars, seed: int = KL_SPLIT_SEED, chunk: int = 500) -> dict:
    """The average KL of N posteriors split as I_q(x; z) + KL(q(z) || p(z)).

    With the aggregate posterior q(z) = (1/N) sum_n q(z | x_n) over the N images and p = N(0, I),

        (1/N) sum_n KL(q(z|x_n) || p) = I_q(x; z) + KL(q(z) || p),    0 <= I_q <= log N.

    The average KL is exact (closed form). KL(q(z) || p) = E_q(z)[log q(z) - log p(z)] is
    estimated by Monte Carlo with one code per image, z_n ~ q(z | x_n) (a stratified draw from
    q(z)), and log q(z_n) evaluated *exactly* as the log-mean-exp over all N mixture components
    (no subsampling of the mixture, so the estimate is unbiased; its noise is the standard error
    returned). I_q is the difference. Returns nats: ``kl``, ``marginal_kl``,
    ``marginal_kl_stderr``, ``mutual_information``, ``log_n`` and ``n``.
    """
    mu = np.asarray(means, dtype="float64")
    lv = np.asarray(log_vars, dtype="float64")
    n, d = mu.shape
    kl = float(np.mean(0.5 * np.sum(mu ** 2 + np.exp(lv) - lv - 1.0, axis=1)))
    rng = np.random.default_rng(seed)
    z = mu + np.exp(0.5 * lv) * rng.standard_normal(mu.shape)
    inv_var = np.exp(-lv)                                     # (N, d)
    const = np.sum(mu ** 2 * inv_var + lv, axis=1) + d * math.log(2 * math.pi)  # (N,)
    terms = np.empty(n)
    for a in range(0, n, chunk):
        zc = z[a:a + chunk]
        # sum_d (z_d - mu_nd)^2 / var_nd for every (sample, component) pair, as two matrix products
        quad = (zc ** 2) @ inv_var.T - 2.0 * zc @ (mu * inv_var).T
        log_comp = -0.5 * (quad + const[None, :])             # log q(z | x_n), (chunk, N)
        top = log_comp.max(axis=1, keepdims=True)
        log_q = (top[:, 0] + np.log(np.exp(log_comp - top).sum(axis=1))) - math.log(n)
        log_p = -0.5 * (np.sum(zc ** 2, axis=1) + d * math.log(2 * math.pi))
        terms[a:a + chunk] = log_q - log_p
    marginal = float(terms.mean())
    stderr = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"kl": kl, "marginal_kl": marginal, "marginal_kl_stderr": stderr,
            "mutual_information": kl - marginal, "log_n": math.log(n), "n": int(n)}


# --------------------------------------------------------------------------------------
# Measures of a model
# --------------------------------------------------------------------------------------
def prior_sample_measures(model, classifier, n: int = N_PRIOR_SAMPLES, seed: int = PRIOR_SEED) -> dict:
    """Classifier measures of ``n`` prior samples (decoder means) of ``model``.

    ``mean_confidence``: mean over samples of the largest class probability; ``class_counts``:
    how many samples the classifier puts in each class; ``unsure_share``: share of samples whose
    largest class probability is below :data:`UNSURE`; ``class_entropy``: entropy of that
    distribution in nats (at most ``log 10``); ``effective_classes``: exp(entropy).
    """
    from ..core.evaluation import decode

    probs = classifier.probabilities(decode(model, prior_codes(model.latent_dim, n, seed)))
    counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    h = entropy_nats(counts)
    return {"n": int(n), "seed": int(seed), "mean_confidence": float(probs.max(axis=1).mean()),
            "unsure_share": float(np.mean(probs.max(axis=1) < UNSURE)),
            "class_counts": [int(c) for c in counts], "class_entropy": h,
            "max_entropy": math.log(probs.shape[1]), "effective_classes": math.exp(h)}


def reconstruction_measures(model, classifier, x, y) -> dict:
    """Does the reconstruction (decoded posterior mean) of each test image keep its class?

    ``keeps_class``: share of images whose reconstruction gets the class the classifier gives the
    image itself; ``accuracy``: share of reconstructions classified as the true label;
    ``classifier_accuracy``: the classifier's accuracy on the images themselves.
    """
    from ..core.evaluation import decode, encode_means

    pred_x = classifier.predict(x)
    pred_r = classifier.predict(decode(model, encode_means(model, x)))
    y = np.asarray(y)
    return {"n": int(len(x)), "keeps_class": float(np.mean(pred_r == pred_x)),
            "accuracy": float(np.mean(pred_r == y)), "classifier_accuracy": float(np.mean(pred_x == y))}


def knn_measures(model, x_train, y_train, x_test, y_test, k: int = KNN_K, top: int = 3) -> dict:
    """k-NN classification of the test codes (posterior means) by the training codes of ``model``."""
    from ..core.evaluation import encode_means

    pred = knn_predict(encode_means(model, x_train), y_train, encode_means(model, x_test), k=k)
    c = confusion_matrix(y_test, pred)
    per_class = (np.diag(c) / np.maximum(c.sum(axis=1), 1)).tolist()
    return {"k": int(k), "fit_on": "training codes", "n_train": int(len(x_train)), "n_test": int(len(x_test)),
            "accuracy": float(np.mean(pred == np.asarray(y_test))), "confusion": c.tolist(),
            "per_class_accuracy": [float(v) for v in per_class],
            "confused_pairs": [list(p) for p in confused_pairs(c, top)]}


def random_pairs(y, n: int = 1000, seed: int = 0):
    """Indices ``(a, b)`` of ``n`` random pairs of items with different labels ``y`` (seeded, with replacement)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    a, b = [], []
    while len(a) < n:
        i, j = rng.integers(len(y), size=(2, 4 * n))
        keep = y[i] != y[j]
        a.extend(i[keep].tolist())
        b.extend(j[keep].tolist())
    return np.array(a[:n]), np.array(b[:n])


def walk_measures(model, classifier, x_a, x_b, steps: int = 10) -> dict:
    """Classes along the straight walks of ``beyond_figures.interpolation_codes`` between pairs.

    ``endpoint_share``: share of the decoded points strictly between the two ends whose class is
    the class (by the classifier) of one of the two end images; ``mean_confidence`` of those points.
    """
    from ..figures.beyond import interpolation_codes
    from ..core.evaluation import decode

    codes = interpolation_codes(model, x_a, x_b, steps)
    pairs = len(codes)
    probs = classifier.probabilities(decode(model, codes.reshape(-1, codes.shape[-1]))).reshape(pairs, steps, -1)
    inner = probs[:, 1:-1]
    cls = inner.argmax(axis=-1)
    ca, cb = classifier.predict(x_a), classifier.predict(x_b)
    at_end = (cls == ca[:, None]) | (cls == cb[:, None])
    return {"pairs": int(pairs), "points": int(cls.size), "endpoint_share": float(at_end.mean()),
            "mean_confidence": float(inner.max(axis=-1).mean())}


# --------------------------------------------------------------------------------------
# Stored in metrics.json
# --------------------------------------------------------------------------------------
def quality_metrics_missing(metrics: dict, classifier_key: str) -> bool:
    cm = metrics.get("classifier_measures") or {}
    return (cm.get("classifier") != classifier_key or cm.get("version") != MEASURES_VERSION
            or "kl_split" not in metrics)


def ensure_quality_metrics(run, classifier, data=None, progress=None) -> dict:
    """Add ``classifier_measures`` and ``kl_split`` to ``run``'s ``metrics.json`` (once).

    ``classifier_measures`` holds the classifier's key (recomputed when the classifier changes),
    ``prior`` (:func:`prior_sample_measures`), ``reconstruction`` (:func:`reconstruction_measures`,
    on the run's test set) and, for a 2-D latent space, ``knn`` (:func:`knn_measures`);
    ``kl_split`` is :func:`kl_split` of the test-set posteriors. ``data`` is the whole data set
    (cut to the run's subsets here); ``None`` loads it.
    """
    from ..core.evaluation import encode

    metrics = run.metrics
    if not quality_metrics_missing(metrics, classifier.key):
        return metrics
    from ..core.data import run_data

    data = run_data(run.config, data=data)
    model = run.model
    if progress is not None:
        progress(f"{run.path.name}: classifier measures and KL split")
    measures = {"classifier": classifier.key, "version": MEASURES_VERSION,
                "classifier_test_accuracy": classifier.test_accuracy,
                "prior": prior_sample_measures(model, classifier),
                "reconstruction": reconstruction_measures(model, classifier, data.x_test, data.y_test)}
    if model.latent_dim == 2:
        measures["knn"] = knn_measures(model, data.x_train, data.y_train, data.x_test, data.y_test)
    means, log_vars = encode(model, data.x_test)
    return run.update_metrics(classifier_measures=measures, kl_split=kl_split(means, log_vars))


def ensure_book_quality_metrics(configs: Sequence, profile: Optional[str] = None, data_dir=None,
                                progress=print) -> None:
    """The build's step: train (or load) one classifier per data set and measure every run of ``configs``."""
    from .classifier import get_classifier
    from ..core.data import dataset
    from ..store.runs import get_run

    classifiers = {}
    for config in configs:
        name = config.dataset
        run = get_run(config, data_dir={"mnist": data_dir} if data_dir else None, progress=None)
        if name not in classifiers:
            classifiers[name] = get_classifier(name, profile, data_dir=data_dir, progress=progress)
        if not quality_metrics_missing(run.metrics, classifiers[name].key):
            continue
        ensure_quality_metrics(run, classifiers[name], data=dataset(name, data_dir), progress=progress)


def quality_metrics(run, data=None) -> dict:
    """``run``'s metrics with ``classifier_measures`` and ``kl_split`` (computed now if the build has not)."""
    from .classifier import get_classifier

    return ensure_quality_metrics(run, get_classifier(run.config.dataset, progress=None), data=data)


__all__ = ["prior_codes", "entropy_nats", "confusion_matrix", "confused_pairs", "knn_predict", "kl_split",
           "prior_sample_measures", "reconstruction_measures", "knn_measures", "random_pairs", "walk_measures",
           "ensure_quality_metrics", "ensure_book_quality_metrics", "quality_metrics"]
