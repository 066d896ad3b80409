"""Against published numbers: the cited rows, the comparison helpers, the binarized-run routes, the chapter."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import ROOT
from test_cli import TINY, assert_clear_error, cli
from vae_mnist.measures import literature
from vae_mnist.measures.tables import convergence


# --------------------------------------------------------------------------------------
# The cited rows (Burda et al. 2016, Table 1, MNIST)
# --------------------------------------------------------------------------------------
def test_the_published_table_has_every_model_once_with_its_source():
    rows = literature.published_rows()
    keys = [(r.objective, r.stochastic_layers, r.train_k) for r in rows]
    assert sorted(keys) == sorted((o, l, k) for o in ("VAE", "IWAE") for l in (1, 2) for k in (1, 5, 50))
    assert {(r.source, r.table) for r in rows} == {("burda2016iwae", "Table 1")}
    bib = (ROOT / "book" / "references.bib").read_text()
    assert re.search(r"@inproceedings\{burda2016iwae,.*Importance Weighted Autoencoders", bib, re.S)
    assert "arXiv:1509.00519" in bib
    # the end points quoted in the project's field notes (GUIDE.md) are the table's
    assert literature.closest_published().test_nll == 86.76
    assert literature.best_published().test_nll == 82.90
    assert literature.best_published().label() == "IWAE, k = 50 (two stochastic layers)"


def test_the_published_rows_keep_the_structure_of_the_source():
    """Checks that a mistyped figure would break: relations the printed table has by construction."""
    for layers in (1, 2):
        vae1, iwae1 = literature.published("VAE", layers, 1), literature.published("IWAE", layers, 1)
        assert (vae1.test_nll, vae1.active_units) == (iwae1.test_nll, iwae1.active_units)  # k = 1: same objective
        for objective in ("VAE", "IWAE"):
            nll = [literature.published(objective, layers, k).test_nll for k in (1, 5, 50)]
            assert nll == sorted(nll, reverse=True), (objective, layers, nll)      # more samples, lower NLL
        for k in (5, 50):
            assert literature.published("IWAE", layers, k).test_nll < literature.published("VAE", layers, k).test_nll
    for objective in ("VAE", "IWAE"):
        for k in (1, 5, 50):
            one, two = literature.published(objective, 1, k), literature.published(objective, 2, k)
            assert two.test_nll < one.test_nll
            assert "+" in two.active_units and "+" not in one.active_units
            assert one.total_active_units <= 50 and two.total_active_units <= 150
    with pytest.raises(KeyError):
        literature.published("VAE", 3, 1)


def test_burdas_schedule_and_networks():
    assert literature.BURDA_PASSES == 3280 == sum(3 ** i for i in range(8))
    # one stochastic layer: 784-200-200-(50 mean, 50 sigma); decoder 50-200-200-784
    encoder = (784 * 200 + 200) + (200 * 200 + 200) + 2 * (200 * 50 + 50)
    decoder = (50 * 200 + 200) + (200 * 200 + 200) + (200 * 784 + 784)
    assert literature.parameter_count(1) == encoder + decoder
    assert literature.parameter_count(2) > literature.parameter_count(1)
    assert all("tanh" in r.network for r in literature.published_rows())
    assert {r.latent for r in literature.published_rows()} == {"50", "100 + 50"}


def test_standing_says_above_below_or_within_noise():
    ref = literature.closest_published()
    worse = literature.standing(ref.test_nll + 3.0, 0.1, ref)
    assert worse["difference"] == pytest.approx(3.0) and worse["words"] == "3.00 nats above"
    better = literature.standing(ref.test_nll - 1.0, 0.1, ref)
    assert better["words"] == "1.00 nats below" and not better["within_noise"]
    close = literature.standing(ref.test_nll + 0.1, 0.1, ref)
    assert close["within_noise"] and close["words"].startswith("within two of our own standard errors")


def test_convergence_measures_the_fall_at_the_end_of_training():
    losses = [100.0 - 10 * (1 - 0.9 ** e) for e in range(50)]        # still falling, ever more slowly
    c = convergence({"test_loss": losses})
    assert c["epochs"] == 50 and c["window"] == 10
    assert c["fall_window"] == pytest.approx(losses[39] - losses[49])
    assert 0 < c["fall_window"] < c["fall_previous_window"]
    assert c["fall_last_epoch"] == pytest.approx(losses[48] - losses[49])
    assert c["best_epoch"] == 50
    overfit = convergence({"test_loss": [5.0, 4.0, 3.0, 3.5, 4.0]}, last=2)
    assert overfit["fall_window"] < 0 and overfit["best_epoch"] == 3
    one = convergence({"test_loss": [7.0]})
    assert one["window"] == 0 and one["fall_window"] == 0.0 and one["fall_previous_window"] is None


def test_the_convergence_sentence_follows_the_curve():
    from vae_mnist.measures.tables import convergence_sentence

    # still falling, more slowly, with a noisy last epoch (the lowest value one epoch before the end)
    losses = [100.0 - 10 * (1 - 0.95 ** e) for e in range(50)]
    losses[-1] += 0.5 * (losses[-12] - losses[-1]) / 10 + 0.2
    text = convergence_sentence({"test_loss": losses}, 50, gap=5.0, reference_passes=3280)
    assert "still fell by" in text and "are not converged" in text and "the fall is slowing" in text
    assert "lowest value came at epoch 49" in text and "3,280 passes" in text
    c = convergence({"test_loss": losses})
    assert f"would take {5.0 / c['fall_per_epoch']:.0f} more epochs" in text
    flat = convergence_sentence({"test_loss": [10.0] * 30 + [9.0] + [9.5] * 19}, 20, gap=3.0)
    assert "did not fall" in flat and "stopped improving" in flat and "would take" not in flat
    # a net fall smaller than one epoch's jitter: neither "converged" nor "not converged"
    noisy = convergence_sentence({"test_loss": [10.0] * 39 + [10.0, 10.4] * 5 + [9.9]}, 20)
    assert "cannot tell" in noisy and "are not converged" not in noisy and "stopped improving" not in noisy
    one = convergence_sentence({"test_loss": [240.0]}, 50, full_epochs=50)
    assert one.startswith("This build trained 1 epoch") and one.endswith("the full build trains 50.")


# --------------------------------------------------------------------------------------
# The binarized runs from the command line and through papermill
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "run"])
def test_a_bad_binarize_value_exits_2_with_one_line(command, tmp_path):
    assert_clear_error(cli(command, "--binarize", "static", *TINY, tmp_cache=tmp_path), "--binarize", "'static'")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_train_a_binarized_z50_run_from_the_command_line(tmp_path):
    result = cli("train", "--latent-dim", "50", "--binarize", "dynamic", *TINY, "--json", tmp_cache=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert "-z50-" in folder.name and "-bin-" in folder.name
    config = json.loads((folder / "config.json").read_text())
    assert (config["binarize"], config["latent_dim"]) == ("dynamic", 50)
    assert metrics["test_size"] == 100 and metrics["test_neg_elbo"] > 0


# (the papermill route with a binarized configuration, `vae-mnist run --binarize dynamic`: test_papermill.py)


@pytest.mark.slow
def test_a_bad_binarize_parameter_fails_the_template_before_training(tmp_path, monkeypatch):
    import jupytext
    import papermill

    from test_papermill import TEMPLATE
    from test_papermill import TINY as TINY_PARAMS

    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(jupytext.read(TEMPLATE), str(tmp_path / "bad.ipynb"),
                                   parameters=dict(TINY_PARAMS, binarize="static"), kernel_name="python3",
                                   progress_bar=False)
    assert info.value.ename == "ConfigError" and "binarize must be one of none, dynamic" in str(info.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


# --------------------------------------------------------------------------------------
# The chapter, in the smoke book
# --------------------------------------------------------------------------------------
def test_the_chapter_shows_our_rows_beside_every_published_row(smoke_book_html):
    page = Path(smoke_book_html) / "book" / "beyond" / "published.html"
    html = page.read_text()
    assert "Against published numbers" in html
    for row in literature.published_rows():
        assert f"{row.test_nll:.2f}" in html
    assert html.count("this book, ") >= 2 and "784–512–50" in html
    assert "Table 1" in html and "3,280" in html
    assert "nan" not in re.sub(r"<[^>]+>", " ", html).split()
    results = (Path(smoke_book_html) / "book" / "results.html").read_text()
    assert "published.html" in results                           # the results chapter points here
