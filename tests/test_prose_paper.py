"""Every sentence of the book that says what the paper says is listed, and true of the paper's text.

The rules are in ``tests/paper_claims.py``; the list with its evidence in ``tests/paper_claims.toml``.
The paper's text is not part of this repository (it is not ours to redistribute): the checks against
it read ``$VAE_MNIST_PAPER`` (a file or folder) or ``../shared/paper/`` next to the repository, and
are skipped, saying so, only where neither exists. The sentence-versus-list checks always run.
"""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import paper_claims as pc

UNITS = pc.all_units()
ENTRIES = pc.load_allowlist()


def _paper_text() -> str:
    path = pc.find_paper()
    if path is None:
        pytest.skip(f"the paper's text is not here (set {pc.ENV_PAPER} or put it in ../shared/paper/); "
                    "the sentence list is still checked by the other tests")
    return pc.paper_text(path)


def test_the_chapters_are_read():
    files = {u.path for u in UNITS}
    for chapter in ("book/intro.md", "book/loss.md", "book/samples.md", "book/choices.md",
                    "book/beyond/decoder.md", "book/templates/run.md"):
        assert chapter in files
    assert len(UNITS) > 300  # sentences, headings and table cells of the whole book
    # the choices chapter's table: one "what the paper says" cell per point, each checked as a claim
    assert sum(u.paper_cell for u in UNITS if u.path == "book/choices.md") >= 14


def test_every_sentence_about_the_paper_is_in_the_list():
    missing = pc.unlisted_claims(UNITS, ENTRIES)
    assert not missing, (
        "sentences that say what the paper says but are not in tests/paper_claims.toml (add each with a "
        "quote of the paper that backs it, or rewrite it):\n"
        + "\n".join(f"  {u.path}:{u.line}: {u.text}" for u in missing))


def test_the_readme_and_the_command_lines_help_say_nothing_about_the_paper_unlisted():
    """README.md and every ``vae-mnist`` help string are read like the chapters: a sentence about the
    paper there needs the same listed evidence (the README and the CLI are not pages of the book, so
    they carry none)."""
    units, _ = _readme_units()
    assert {u.path for u in units} == {"README.md", "vae-mnist --help"}
    missing = pc.unlisted_claims(units, ENTRIES)
    assert not missing, "\n".join(f"{u.path}: {u.text}" for u in missing)


def test_every_listed_sentence_is_still_in_its_chapter():
    stale = pc.stale_entries(UNITS, ENTRIES)
    assert not stale, ("entries of tests/paper_claims.toml whose sentence is no longer in the chapter "
                       "(update or remove them):\n" + "\n".join(f"  {e.file}: {e.sentence}" for e in stale))


def test_every_entry_carries_evidence():
    bare = pc.entries_without_evidence(ENTRIES)
    assert not bare, "entries with neither quotes nor absent words:\n" + "\n".join(f"  {e.sentence}" for e in bare)


def test_the_evidence_is_in_the_papers_text():
    problems = pc.evidence_problems(ENTRIES, _paper_text())
    assert not problems, "\n".join(problems)


def test_quotes_next_to_the_paper_are_the_papers_words():
    problems = pc.misquotes(UNITS, ENTRIES, _paper_text())
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------
# The checker itself: it must fail on what it is there to catch
# --------------------------------------------------------------------------------------
PAPER = textwrap.dedent("""\
    V. RESULTS
    The samples from the learned generative models for 2D, 10D and 20D are as shown in
    figures 5, 6 and 7.
""")

CHAPTER = textwrap.dedent("""\
    ---
    kernelspec:
      name: python3
    ---

    # Samples

    The paper shows its samples in figures 5, 6 and 7. The paper finds that the $z = 2$ samples
    are blurrier than those of $z = 20$ (e.g. in the
    corners). This sentence does not name it.

    ```{code-cell} ipython3
    # The paper says nothing in a code cell: not prose.
    ```

    $$
    \\text{the paper says } x
    $$

    ```{glue:figure} fig
    :name: fig-x

    Regenerates Figure 5 of the paper ("samples from the learned generative models").
    ```

    | Point | What the paper says | Ours |
    |---|---|---|
    | Seed | nothing | 0 |
""")


@pytest.fixture()
def chapter(tmp_path) -> Path:
    path = tmp_path / "book" / "samples.md"
    path.parent.mkdir()
    path.write_text(CHAPTER)
    return path


def _entry(sentence, quotes=(), absent=(), others=()):
    return pc.Entry(file="book/samples.md", sentence=sentence, quotes=list(quotes), absent=list(absent),
                    not_the_papers=list(others))


def test_prose_is_split_into_sentences_without_code_or_math(chapter):
    texts = [u.text for u in pc.prose_units(chapter, chapter.parent.parent)]
    assert texts[0] == "Samples"
    assert "The paper finds that the $z = 2$ samples are blurrier than those of $z = 20$ (e.g. in the corners)." \
        in texts
    assert not any("code cell" in t or "\\text" in t for t in texts)
    assert 'Regenerates Figure 5 of the paper ("samples from the learned generative models").' in texts
    assert "Seed: nothing" in texts   # a cell of the "what the paper says" column, named by its row


def test_an_invented_finding_fails_the_list(chapter):
    units = pc.prose_units(chapter, chapter.parent.parent)
    listed = [_entry("The paper shows its samples in figures 5, 6 and 7.",
                     quotes=["are as shown in figures 5, 6 and 7"]),
              _entry("Seed: nothing", absent=["seed"])]
    missing = [u.text for u in pc.unlisted_claims(units, listed)]
    assert missing == ["The paper finds that the $z = 2$ samples are blurrier than those of $z = 20$ "
                       "(e.g. in the corners)."]


def test_an_invented_quote_or_a_false_absence_fails_the_evidence():
    text = pc.normalise(PAPER)
    good = _entry("x", quotes=["The samples from the learned generative models for 2D, 10D and 20D are as shown in "
                               "figures 5, 6 and 7"], absent=["blur"])
    assert pc.evidence_problems([good], text) == []
    invented = _entry("The paper finds that the samples are blurrier.", quotes=["the 2D samples are blurrier"])
    false_absence = _entry("The paper has no samples.", absent=["samples"])
    problems = pc.evidence_problems([invented, false_absence], text)
    assert len(problems) == 2
    assert "quote not in the paper" in problems[0] and "does contain 'samples'" in problems[1]


def test_a_misquote_next_to_the_paper_fails(chapter):
    units = pc.prose_units(chapter, chapter.parent.parent)
    text = pc.normalise(PAPER)
    assert pc.misquotes(units, [], text) == []   # the caption quotes the paper word for word
    bad = chapter.read_text().replace('("samples from the learned generative models")',
                                      '("blurred samples from the learned models")')
    chapter.write_text(bad)
    problems = pc.misquotes(pc.prose_units(chapter, chapter.parent.parent), [], text)
    assert len(problems) == 1 and "blurred samples from the learned models" in problems[0]


def test_a_changed_sentence_leaves_a_stale_entry(chapter):
    units = pc.prose_units(chapter, chapter.parent.parent)
    entry = _entry("The paper shows its samples in figures 5, 6 and 8.", quotes=["figures 5, 6 and 7"])
    assert pc.stale_entries(units, [entry]) == [entry]


def test_another_works_paper_is_listed_by_name_not_checked_against_ours(chapter):
    chapter.write_text("The code released with the paper holds 400 images out (\"validation set\").\n")
    units = pc.prose_units(chapter, chapter.parent.parent)
    entry = pc.Entry(file="book/samples.md", sentence=units[0].text, quotes=[], absent=[], not_the_papers=[],
                     other_work="Burda et al. (2016)")
    assert pc.unlisted_claims(units, [entry]) == []
    assert pc.entries_without_evidence([entry]) == []
    assert pc.misquotes(units, [entry], pc.normalise(PAPER)) == []
    unnamed = dataclasses.replace(entry, other_work="")
    assert pc.entries_without_evidence([unnamed]) == [unnamed]
    assert len(pc.misquotes(units, [unnamed], pc.normalise(PAPER))) == 1


# --------------------------------------------------------------------------------------
# Rule 4: the book's own settings (decoder likelihood, activation, optimizer, learning rate,
# grid rule, binarization, shuffling) are never given to the paper
# --------------------------------------------------------------------------------------
def _paper_or_empty() -> str:
    """The paper's text, or "" where it is not here (stricter: no setting counts as stated)."""
    path = pc.find_paper()
    return pc.paper_text(path) if path is not None else ""


def _cli_help_text() -> str:
    """Every help string of ``vae-mnist`` and its commands, one paragraph each."""
    import argparse

    from vae_mnist.cli.main import build_parser

    texts, parsers = [], [build_parser()]
    while parsers:
        parser = parsers.pop()
        texts += [parser.description or ""]
        for action in parser._actions:
            texts.append(action.help or "")
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
                texts += [a.help or "" for a in action._choices_actions]
    return "\n\n".join(t.replace("%%", "%") for t in texts if t and t != argparse.SUPPRESS) + "\n"


def _readme_units():
    """README.md's prose and tables, and the command line's help strings, as prose units."""
    import tempfile

    units, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("README.md", (pc.ROOT / "README.md").read_text(encoding="utf-8")),
                           ("vae-mnist --help", _cli_help_text())):
            path = Path(tmp) / "text.md"
            path.write_text(text, encoding="utf-8")
            units += [dataclasses.replace(u, path=name) for u in pc.prose_units(path, Path(tmp))]
            rows += [(name, line, cells) for _, line, cells in pc.table_rows(path, Path(tmp))]
    return units, rows


def _run_page_units(tmp_path):
    """The parameters block the run pages get (generated by vae_mnist.build.pages), as prose."""
    from vae_mnist import RunConfig
    from vae_mnist.build.pages import _parameters_markdown

    path = tmp_path / "run-page.md"
    path.write_text(_parameters_markdown(RunConfig(latent_dim=2, likelihood="gaussian", binarize="dynamic")),
                    encoding="utf-8")
    return pc.prose_units(path, tmp_path), pc.table_rows(path, tmp_path)


def test_no_sentence_gives_the_paper_one_of_the_books_settings(tmp_path):
    paper = _paper_or_empty()
    rows = [r for p in pc.chapter_paths() for r in pc.table_rows(p)]
    readme_units, readme_rows = _readme_units()
    page_units, page_rows = _run_page_units(tmp_path)
    problems = pc.settings_problems(UNITS + readme_units + page_units, rows + readme_rows + page_rows, paper)
    assert not problems, ("sentences that give the paper one of the book's own settings (the paper states "
                          "none of them; say they are the book's):\n" + "\n".join(problems))


OLD_WORDINGS = [
    "For the MNIST models with the paper's Bernoulli decoder the ELBO is loose by 3 nats.",
    "The same model as the paper's $z = 2$ (Bernoulli decoder, the paper's training settings), trained on Fashion-MNIST.",
    "The sweep trains the same model (Bernoulli decoder, the paper's training settings) for every size.",
    "Two runs of the book train the paper's network (784–512–$z$, ReLU, Adam, batch 128, 50 epochs).",
    "the paper's words: $n = 20$ points $k/(n+1)$ per axis through $\\Phi^{-1}$",
    "Values in bold differ from the paper.",
    "| parameter | value | paper default |",
    "The `full` profile uses the paper's settings.",
    "The paper trains with Adam at a learning rate of $10^{-3}$.",
    "The paper binarizes the images once.",
    "As in the paper, the training set is shuffled every epoch.",
]

GOOD_WORDINGS = [
    "The paper names no activation; the book uses rectified linear units (ReLU), as the Keras example does.",
    "Optimizer and learning rate: nothing",
    "The paper's text says \"MLPs with Gaussian output\"; this book uses a Bernoulli decoder.",
    "The book's $z = 2$ model (the paper's network sizes and training length, with the book's Bernoulli decoder).",
    "the paper gives neither; the Keras example drew `norm.ppf(np.linspace(0.05, 0.95, n))`",
    "The paper trains for 50 epochs with batches of 128.",
]


@pytest.mark.parametrize("sentence", OLD_WORDINGS)
def test_the_settings_guard_fails_on_the_old_wordings(sentence):
    assert pc.settings_given_to_paper(pc.normalise(sentence), pc.normalise(PAPER)), sentence


@pytest.mark.parametrize("sentence", GOOD_WORDINGS)
def test_the_settings_guard_passes_the_books_choices_said_as_such(sentence):
    assert pc.settings_given_to_paper(pc.normalise(sentence), pc.normalise(PAPER)) == []


def test_a_setting_the_paper_does_state_passes_the_guard():
    paper = pc.normalise("For the encoder and decoder we used MLPs with ReLU and Bernoulli output.")
    assert pc.settings_given_to_paper("The paper's Bernoulli decoder with ReLU.", paper) == []
    assert pc.settings_given_to_paper("The paper's Bernoulli decoder with ReLU.", pc.normalise(PAPER))


def test_a_row_credited_to_the_papers_words_is_checked_whole(tmp_path):
    path = tmp_path / "book" / "choices.md"
    path.parent.mkdir()
    path.write_text("| Point | What the paper says | What the book does | Why |\n|---|---|---|---|\n"
                    "| Epochs | \"50 epochs\" | 50 epochs, the training set shuffled each epoch | the paper's words |\n"
                    "| Network | \"512 nodes\" | 784 → 512 | the paper's words |\n")
    rows = pc.table_rows(path, tmp_path)
    problems = pc.settings_problems([], rows, pc.normalise(PAPER))
    assert len(problems) == 1 and "shuffl" in problems[0] and "book/choices.md:3" in problems[0]


# --------------------------------------------------------------------------------------
# The run pages' settings table: one table of what the paper states, each with its quote
# --------------------------------------------------------------------------------------
def test_every_stated_setting_is_a_run_parameter_and_its_quote_is_in_the_paper():
    from vae_mnist import RunConfig
    from vae_mnist.measures import paper as P

    fields = set(RunConfig().to_dict())
    assert {s.key for s in P.PAPER_SETTINGS} <= fields
    # the book's choices are not in the table of what the paper states
    assert not {"learning_rate", "seed", "binarize", "reconstruction"} & {s.key for s in P.PAPER_SETTINGS}
    assert P.stated("likelihood").value == "Gaussian"      # the paper's words, not the book's Bernoulli default
    P.check_quotes(_paper_text())                          # raises PaperQuoteError on a misquote


def test_a_quote_not_in_the_paper_fails_the_run_page(tmp_path, monkeypatch):
    """The build fails: the run page's parameters block raises when a quote is not in the paper's text."""
    from vae_mnist import RunConfig
    from vae_mnist.measures import paper as P
    from vae_mnist.errors import PaperQuoteError
    from vae_mnist.build.pages import _parameters_markdown

    damaged = tmp_path / "paper.txt"
    damaged.write_text(PAPER + "\nThe number of epochs are chosen to be 50 and the batch size chosen is 256.\n")
    monkeypatch.setenv(P.ENV_PAPER, str(damaged))
    with pytest.raises(PaperQuoteError, match="batch_size quote 'the batch size chosen is 128'"):
        _parameters_markdown(RunConfig(latent_dim=2))
    with pytest.raises(PaperQuoteError):
        P.check_quotes("nothing of the paper here")


def test_the_run_pages_table_names_the_books_defaults_and_quotes_the_paper(tmp_path, monkeypatch):
    from vae_mnist import RunConfig
    from vae_mnist.measures import paper as P
    from vae_mnist.build.pages import _parameters_markdown

    full = tmp_path / "paper.txt"
    full.write_text(" ".join(s.quote + "." for s in P.PAPER_SETTINGS))
    monkeypatch.setenv(P.ENV_PAPER, str(full))
    block = _parameters_markdown(RunConfig(latent_dim=2, learning_rate=0.01))
    assert "| parameter | this run | the book's default | what the paper states (its words, section) |" in block
    assert "| `learning_rate` | **0.01** | 0.001 | nothing (the book's choice) |" in block
    assert ('| `likelihood` | bernoulli | bernoulli | Gaussian: "For the encoder and decoder we used MLPs with '
            'Gaussian output" (I) |') in block
    assert "each quote checked against the paper's text" in block and "paper default" not in block
    monkeypatch.setenv(P.ENV_PAPER, str(tmp_path / "absent.txt"))
    assert "were not checked" in _parameters_markdown(RunConfig(latent_dim=2))
