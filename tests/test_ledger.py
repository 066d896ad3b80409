"""The results ledger and ``vae-mnist diff`` on small built books made here (real notebooks, real PNGs).

The notebooks carry glue outputs in the form MyST-NB's ``glue`` writes them (the display data IPython's
formatter makes, under the scrapbook metadata) and figures drawn by matplotlib; the tests on a real smoke
build of the whole book are in ``tests/test_ledger_book.py``.
"""
from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from helpers import vae_mnist_command
from vae_mnist.build import ledger as ledgers
from vae_mnist.build import results_diff

GLUE = ledgers.GLUE_PREFIX


def glue_output(name, value, display=False):
    """What ``myst_nb.glue(name, value, display)`` leaves in a cell's outputs."""
    from IPython.core.formatters import format_display_data

    bundle, _ = format_display_data(value)
    prefix = "" if display else GLUE
    return nbformat.v4.new_output("display_data", data={prefix + k: v for k, v in bundle.items()},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def png(level: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.imshow(np.full((8, 8), level), vmin=0, vmax=1, cmap="gray")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def chapter(folder: Path, name: str, values: dict, level: float, sentence: str) -> None:
    """An executed chapter ``<folder>/_build/jupyter_execute/book/<name>.ipynb`` and its source ``book/<name>.md``."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [glue_output(k, v) for k, v in values.items()]
    figure = nbformat.v4.new_code_cell("plt.show()")
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(level), "text/plain": "<Figure>"})]
    nb.cells = [cell, figure]
    path = folder / "_build" / "jupyter_execute" / "book" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    md = folder / "book" / f"{name}.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(f"# {name}\n\nSome text first. {sentence}\n")


def ledger_of(folder: Path, values: dict, level: float = 0.5, word: str = "larger", runs=None) -> Path:
    values = dict(values, word=word)
    chapter(folder, "loss", values, level, "The Gaussian bound is {glue:text}`word` than the other one.")
    glued, figures = {}, {}
    for path in sorted((folder / "_build" / "jupyter_execute").rglob("*.ipynb")):
        name = path.relative_to(folder / "_build" / "jupyter_execute").with_suffix("").as_posix()
        g, f = ledgers.notebook_records(path, name, (folder / (name + ".md")).read_text())
        glued.update(g)
        figures.update(f)
    ledger = {"format": ledgers.FORMAT, "profile": "smoke", "seeds": 1, "package": "p", "lock": "l",
              "glue": glued, "figures": figures, "runs": runs or {"run-a": {"history": "h1", "code_hash": "c",
                                                                             "config": {"seed": 0}, "software": {},
                                                                             "metrics": {"test_neg_elbo": 150.5}}}}
    return ledgers.write_ledger(ledger, folder / "_build" / ledgers.LEDGER_FILE)


def diff(*args) -> subprocess.CompletedProcess:
    return subprocess.run(vae_mnist_command() + ["diff", *map(str, args)], capture_output=True, text=True, timeout=120)


BASE = {"nll": 146.8312, "nll_se": 0.42, "n_test": 10000}


def test_the_ledger_reads_glued_numbers_their_standard_errors_words_sentences_and_figures(tmp_path):
    path = ledger_of(tmp_path / "a", BASE)
    ledger = json.loads(path.read_text())
    nll = ledger["glue"]["book/loss:nll"]
    assert nll["kind"] == "number" and nll["number"] == pytest.approx(146.8312) and nll["se"] == pytest.approx(0.42)
    assert ledger["glue"]["book/loss:n_test"]["number"] == 10000
    word = ledger["glue"]["book/loss:word"]
    assert word["kind"] == "text" and word["value"] == "'larger'"
    assert word["sentences"] == ["The Gaussian bound is {glue:text}`word` than the other one."]
    (figure,) = ledger["figures"].values()
    assert figure["chapter"] == "book/loss" and len(base64.b64decode(figure["thumb"])) == ledgers.THUMB ** 2


def test_two_identical_builds_diff_empty_with_exit_0(tmp_path):
    a, b = ledger_of(tmp_path / "a", BASE), ledger_of(tmp_path / "b", BASE)
    result = diff(a, b)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No result changed" in result.stdout
    # a built book's folder stands for its ledger
    assert diff(tmp_path / "a", tmp_path / "b").returncode == 0


def test_a_moved_number_a_flipped_word_a_changed_figure_and_a_retrained_run_are_named(tmp_path):
    a = ledger_of(tmp_path / "a", BASE)
    runs = {"run-a": {"history": "h2", "code_hash": "c", "config": {"seed": 0}, "software": {},
                      "metrics": {"test_neg_elbo": 151.0}}}
    b = ledger_of(tmp_path / "b", dict(BASE, nll=146.9), level=0.9, word="smaller", runs=runs)
    result = diff(a, b)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "book/loss:nll: 146.831 -> 146.9" in out and "+0.2 s.e." in out
    assert "book/loss:n_test" not in out                                  # what did not move is not listed
    assert "'larger' -> 'smaller'" in out and 'in: "The Gaussian bound is ⟨word⟩ than the other one."' in out
    assert "book/loss:cell 2: pixels changed" in out
    assert "run-a: retrained; test_neg_elbo 150.5 -> 151" in out
    md = diff(a, b, "--markdown")
    assert md.returncode == 1 and "### Numbers" in md.stdout and "- `book/loss:nll`" in md.stdout


def test_a_relative_tolerance_absorbs_small_moves_only(tmp_path):
    a = ledger_of(tmp_path / "a", BASE)
    b = ledger_of(tmp_path / "b", dict(BASE, nll=146.8312 * (1 + 1e-7)))
    assert diff(a, b).returncode == 1                                     # exact by default
    assert diff(a, b, "--rtol", "1e-6").returncode == 0
    c = ledger_of(tmp_path / "c", dict(BASE, nll=146.9))
    assert diff(a, c, "--rtol", "1e-6").returncode == 1


@pytest.mark.parametrize("damage", ["missing", "truncated", "not a ledger", "section gone", "empty folder"])
def test_a_damaged_or_missing_ledger_is_one_line_and_exit_2(tmp_path, damage):
    good = ledger_of(tmp_path / "a", BASE)
    bad = tmp_path / "bad.json"
    if damage == "truncated":
        bad.write_text(good.read_text()[: len(good.read_text()) // 2])
    elif damage == "not a ledger":
        bad.write_text(json.dumps([1, 2, 3]))
    elif damage == "section gone":
        data = json.loads(good.read_text())
        del data["figures"]
        bad.write_text(json.dumps(data))
    elif damage == "empty folder":
        bad = tmp_path / "empty"
        bad.mkdir()
    for args in ((good, bad), (bad, good)):
        result = diff(*args)
        assert result.returncode == 2, (damage, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vae-mnist: error:") and str(bad) in lines[0], result.stderr


def test_the_provenance_text_shows_sentences_as_text_not_as_roles(tmp_path):
    a = json.loads(ledger_of(tmp_path / "a", BASE).read_text())
    b = json.loads(ledger_of(tmp_path / "b", BASE, word="smaller").read_text())
    page = results_diff.provenance_markdown(b, results_diff.diff_ledgers(a, b), "the build before")
    assert "{glue" not in page and "⟨word⟩" in page and "\n### Sentences" in page
    assert "Compared with the build before" in page
    same = results_diff.provenance_markdown(a, results_diff.diff_ledgers(a, a), "the build before")
    assert "No result changed" in same
