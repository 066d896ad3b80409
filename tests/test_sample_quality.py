"""The measuring instruments behind the book's sentences: the classifier, its measures, k-NN, the KL split,
and the chi-square interval of a standard deviation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vae_mnist.measures import sample_quality as sq
from vae_mnist.measures.tables import chi2_quantile, sd_interval_factors


def test_class_entropy_is_in_nats_and_spans_zero_to_log10():
    assert sq.entropy_nats([100] * 10) == pytest.approx(math.log(10))
    assert sq.entropy_nats([0, 0, 7, 0]) == 0.0
    assert 0 < sq.entropy_nats([90, 10]) < math.log(2)


def test_confused_pairs_count_both_directions_most_first():
    y_true = [4, 4, 4, 9, 9, 3, 5, 1]
    y_pred = [9, 9, 4, 4, 9, 5, 3, 1]
    c = sq.confusion_matrix(y_true, y_pred)
    assert c[4, 9] == 2 and c[9, 4] == 1 and c.sum() == len(y_true)
    assert sq.confused_pairs(c) == [(4, 9, 3), (3, 5, 2)]


def test_knn_separates_clusters_and_follows_the_majority():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train = np.concatenate([c + rng.normal(size=(50, 2)) for c in centres])
    labels = np.repeat([0, 1, 2], 50)
    test = centres + 0.1
    assert sq.knn_predict(train, labels, test, k=10).tolist() == [0, 1, 2]
    # a point in cluster 1 whose single nearest neighbour is mislabelled still gets the majority
    labels2 = labels.copy()
    nearest = np.argmin(((train - centres[1]) ** 2).sum(1))
    labels2[nearest] = 2
    assert sq.knn_predict(train, labels2, centres[1:2], k=10).tolist() == [1]


def test_kl_split_of_posteriors_equal_to_the_prior_is_zero():
    n, d = 400, 3
    split = sq.kl_split(np.zeros((n, d)), np.zeros((n, d)))
    assert split["kl"] == pytest.approx(0.0)
    assert abs(split["marginal_kl"]) < 1e-9 and abs(split["mutual_information"]) < 1e-9


def test_kl_split_of_narrow_separated_posteriors_puts_log_n_in_the_mutual_information():
    n, d = 300, 2
    rng = np.random.default_rng(1)
    means = rng.normal(size=(n, d)) * 3.0
    log_vars = np.full((n, d), math.log(1e-6))  # so narrow that every code identifies its image
    split = sq.kl_split(means, log_vars)
    assert split["mutual_information"] == pytest.approx(math.log(n), abs=3 * split["marginal_kl_stderr"] + 1e-3)
    assert split["kl"] == pytest.approx(split["mutual_information"] + split["marginal_kl"])
    assert split["log_n"] == pytest.approx(math.log(n))


def test_kl_split_marginal_term_matches_a_closed_form_case():
    # every posterior the same N(m, s^2): q(z) is that Gaussian, I_q = 0 and KL(q(z)||p) = the KL itself
    n = 200
    means = np.tile([0.7, -0.3], (n, 1))
    log_vars = np.tile([math.log(0.25), math.log(2.0)], (n, 1))
    split = sq.kl_split(means, log_vars)
    assert split["marginal_kl"] == pytest.approx(split["kl"], abs=4 * split["marginal_kl_stderr"])
    assert abs(split["mutual_information"]) < 4 * split["marginal_kl_stderr"]


def test_prior_codes_of_the_figures_are_the_first_of_the_measured_ones():
    assert np.array_equal(sq.prior_codes(10, 100, 0), sq.prior_codes(10, 10_000, 0)[:100])


def test_chi_square_quantiles_and_the_interval_for_sigma_from_three_values():
    for p in (0.025, 0.5, 0.975):
        assert chi2_quantile(p, 2) == pytest.approx(-2 * math.log(1 - p), rel=1e-9)
    assert chi2_quantile(0.95, 1) == pytest.approx(3.841459, rel=1e-6)   # printed tables
    assert chi2_quantile(0.95, 10) == pytest.approx(18.307038, rel=1e-6)
    lo, hi = sd_interval_factors(3)
    assert lo == pytest.approx(0.5207, abs=1e-4) and hi == pytest.approx(6.285, abs=1e-3)
    lo30, hi30 = sd_interval_factors(30)
    assert lo < lo30 < 1 < hi30 < hi


# --------------------------------------------------------------------------------------
# The classifier and the stored measures (real Keras training on a small MNIST subset)
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory, mnist_data):
    from vae_mnist.measures.classifier import ClassifierConfig, get_classifier

    cache = tmp_path_factory.mktemp("cache")
    config = ClassifierConfig(dataset="mnist", epochs=2, train_subset=3000, test_subset=1000)
    clf = get_classifier(config=config, data=mnist_data, root=cache, progress=None)
    return clf, config, cache


@pytest.fixture(scope="module")
def mnist_data():
    from helpers import DATA_DIR
    from vae_mnist.core.data import load_dataset

    return load_dataset("mnist", DATA_DIR)


def test_classifier_is_trained_cached_and_reloaded(small, mnist_data):
    from vae_mnist.measures.classifier import get_classifier

    clf, config, cache = small
    assert clf.path.name == config.name() and clf.path.parent == cache / ".classifiers"
    assert clf.test_accuracy > 0.85  # 2 epochs on 3,000 images
    stamp = (clf.path / "classifier.keras").stat().st_mtime_ns
    again = get_classifier(config=config, root=cache, progress=None)  # no data: must load, not train
    assert (again.path / "classifier.keras").stat().st_mtime_ns == stamp
    x = mnist_data.x_test[:200]
    assert np.allclose(again.probabilities(x), clf.probabilities(x), atol=1e-6)
    assert np.allclose(clf.probabilities(x).sum(axis=1), 1, atol=1e-5)
    assert [p.name for p in (cache / ".classifiers").iterdir() if not p.name.endswith(".lock")] == [config.name()]
    from vae_mnist.store.runs import scan_runs

    assert scan_runs(cache) == [] and (clf.path / "classifier.keras").is_file()  # not taken for a damaged run


def test_a_failed_classifier_training_leaves_nothing(tmp_path, mnist_data, monkeypatch):
    from vae_mnist.measures import classifier

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(classifier, "build_classifier", broken)
    config = classifier.ClassifierConfig(epochs=1, train_subset=100, test_subset=100)
    with pytest.raises(RuntimeError):
        classifier.get_classifier(config=config, data=mnist_data, root=tmp_path, progress=None)
    assert [p.name for p in (tmp_path / ".classifiers").iterdir() if not p.name.endswith(".lock")] == []


def test_quality_metrics_are_stored_once(small, mnist_data, tmp_path, monkeypatch):
    from vae_mnist.config import RunConfig
    from vae_mnist.store.runs import get_run

    clf, _, _ = small
    config = RunConfig(latent_dim=2, epochs=1, train_subset=1000, test_subset=300)
    run = get_run(config, data=mnist_data, root=tmp_path, progress=None)
    m = sq.ensure_quality_metrics(run, clf, data=mnist_data)
    cm = m["classifier_measures"]
    assert cm["classifier"] == clf.key
    assert cm["prior"]["n"] == sq.N_PRIOR_SAMPLES and sum(cm["prior"]["class_counts"]) == sq.N_PRIOR_SAMPLES
    assert 0 <= cm["prior"]["class_entropy"] <= math.log(10) + 1e-12
    assert 0.1 <= cm["prior"]["mean_confidence"] <= 1 and 0 <= cm["prior"]["unsure_share"] <= 1
    assert cm["version"] == sq.MEASURES_VERSION
    assert cm["reconstruction"]["n"] == 300 and 0 <= cm["reconstruction"]["keeps_class"] <= 1
    knn = cm["knn"]
    assert knn["n_train"] == 1000 and np.array(knn["confusion"]).sum() == 300
    assert m["kl_split"]["n"] == 300
    assert m["kl_split"]["kl"] == pytest.approx(run.metrics["test_kl"], rel=1e-3)  # the KL the book reports
    assert m["kl_split"]["mutual_information"] <= math.log(300) + 4 * m["kl_split"]["marginal_kl_stderr"]
    # a second call reads metrics.json and computes nothing
    monkeypatch.setattr(sq, "prior_sample_measures", lambda *a, **k: pytest.fail("recomputed"))
    assert sq.ensure_quality_metrics(run, clf, data=mnist_data) == run.metrics


def test_random_pairs_have_different_labels_and_are_reproducible():
    y = np.array([0, 0, 0, 1, 2])
    a, b = sq.random_pairs(y, 50, seed=3)
    assert len(a) == len(b) == 50 and np.all(y[a] != y[b])
    a2, b2 = sq.random_pairs(y, 50, seed=3)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
