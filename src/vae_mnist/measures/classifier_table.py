"""The table of classifier-based numbers of every run the book shows (the results chapter prints it):
prior samples' confidence and class entropy, reconstructions keeping their class, the 2-D k-NN
accuracy and the KL split, one row per run, computed from the run cache."""
from __future__ import annotations

import math
from typing import List, Sequence

HEADER = ("| run | prior samples: mean confidence | class entropy (nats, max 2.303) | effective digits "
          "| reconstructions keeping their class | 2-D k-NN accuracy | MI + marginal KL (nats) |")


def run_label(config) -> str:
    """``mnist bernoulli z=20 bin``: the run as the table names it."""
    label = f"{config.dataset} {config.likelihood} z={config.latent_dim}"
    if config.reconstruction == "mean":
        label += " recmean"
    if config.binarize != "none":
        label += " bin"
    return label


def table_row(config, metrics: dict) -> str:
    cm, split = metrics["classifier_measures"], metrics["kl_split"]
    prior, rec = cm["prior"], cm["reconstruction"]
    knn = f"{100 * cm['knn']['accuracy']:.1f} %" if "knn" in cm else "—"
    return (f"| {run_label(config)} | {100 * prior['mean_confidence']:.1f} % | {prior['class_entropy']:.3f} "
            f"| {prior['effective_classes']:.1f} | {100 * rec['keeps_class']:.1f} % | {knn} "
            f"| {split['mutual_information']:.2f} + {split['marginal_kl']:.2f} |")


def intro(runs) -> str:
    """The sentence before the table: the classifiers' accuracies, the sample count, log N."""
    acc = {}
    for run in runs:
        acc.setdefault(run.config.dataset, run.metrics["classifier_measures"]["classifier_test_accuracy"])
    names = {"mnist": "the MNIST test set", "fashion-mnist": "Fashion-MNIST's"}
    scores = " and ".join(f"{100 * a:.2f} % on {names.get(d, d)}" for d, a in acc.items())
    first = runs[0].metrics
    n_prior, n_split = first["classifier_measures"]["prior"]["n"], first["kl_split"]["n"]
    over = [run_label(r.config) for r in runs
            if r.metrics["kl_split"]["mutual_information"] > r.metrics["kl_split"]["log_n"]]
    return (f"Seed 0; the classifiers score {scores}; {n_prior:,} prior samples per model; "
            f"\"MI\" is the mutual information I_q(x; z), at most log {n_split:,} = {math.log(n_split):.2f} nats"
            + (f" (the estimates above it, {', '.join(over)}, exceed it by Monte-Carlo error of the "
               "marginal-KL estimate)" if over else "")
            + ", and the marginal KL is KL(q(z) || p(z)), their sum the average KL.")


def classifier_table(runs: Sequence) -> str:
    """The intro sentence, a blank line and the table (header, rule, one row per run)."""
    rows: List[str] = [table_row(r.config, r.metrics) for r in runs]
    return "\n".join([intro(runs), "", HEADER, "|---|---|---|---|---|---|---|", *rows])


def book_runs_with_measures(profile=None, progress=None):
    """The book's runs (seed 0) with their classifier measures, as a build leaves them in the cache."""
    from ..profiles import book_runs
    from ..store.runs import get_run
    from ..measures.sample_quality import quality_metrics

    runs = [get_run(c, progress=progress) for c in book_runs(profile, seeds=1)]
    for run in runs:
        quality_metrics(run)
    return [get_run(r.config, progress=None) for r in runs]
