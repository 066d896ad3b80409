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
