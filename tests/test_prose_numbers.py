"""Every number with a decimal point in a chapter's prose is computed by the build (glued) or cited.

The house rule: a number in the text comes from an executed cell (``{glue:text}`` and friends) or
is a published figure with its source. This test reads every chapter under ``book/`` as a reader's
text: it removes what is not prose (front matter, code cells and code blocks, math, roles such as
glue, cite, doc and eq, code spans, link targets, directive options) and fails on any number with a
decimal point that is left, unless it is in :data:`ALLOWED`, where each entry names its source.
Integers are not checked (they count things the text defines: 10,000 images, z = 20, k = 1000).
"""
from __future__ import annotations

import re

import pytest

from helpers import ROOT

BOOK = ROOT / "book"

#: Numbers with a decimal point that may stand in prose, each as "text as it appears": "source".
ALLOWED = {
    "Python 3.11": "the Python version the package requires (pyproject.toml, requires-python)",
    "Attribution 4.0 International": "the name of the book's content licence (LICENSE-CONTENT)",
    "CC BY 4.0": "the short name of the book's content licence (LICENSE-CONTENT)",
    "86.76": "Burda, Grosse and Salakhutdinov (2016), Table 1: MNIST, VAE, one stochastic layer, k = 1",
    "82.90": "Burda, Grosse and Salakhutdinov (2016), Table 1: MNIST, IWAE, two stochastic layers, k = 50",
}

#: A number with a decimal point: 0.5, 12.25, .5 (not part of a word, a longer number or a version).
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.]*\d)")

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
#: Fenced blocks whose whole content is code or maths (dropped); other directives keep their text.
_NOT_PROSE = re.compile(r"^\{(code-cell|math|code|code-block|glue|glue:any|glue:math)\}|^[A-Za-z0-9_+-]*$")


def prose(text: str) -> str:
    """The prose of a MyST Markdown chapter: what a reader reads as sentences, without computed parts."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)          # front matter
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)                  # comments
    out, fence, keep = [], None, True
    for line in text.splitlines():
        m = _FENCE.match(line.strip())
        if fence is None and m:
            fence, keep = m.group("fence"), not _NOT_PROSE.match(m.group("info").strip())
            continue
        if fence is not None and line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
            fence = None
            continue
        if fence is not None and (not keep or re.match(r"^\s*:[\w-]+:", line)):
            continue                                                     # code, or a directive option
        if fence is None and line.startswith("+++"):
            continue                                                     # jupytext cell separators
        out.append(line)
    text = "\n".join(out)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)                 # display math
    text = re.sub(r"(?<!\\)\$[^$\n]+?(?<!\\)\$", " ", text)              # inline math
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)                      # roles: glue, cite, math, doc, eq ...
    text = re.sub(r"`[^`\n]*`", " ", text)                               # code spans
    text = re.sub(r"\]\([^)]*\)", "]", text)                             # link targets
    text = re.sub(r"^\(?[\w-]+\)=\s*$", " ", text, flags=re.M)           # labels
    return text


def untraced_numbers(text: str, allowed=ALLOWED) -> list:
    """Numbers with a decimal point in the prose of ``text`` that are neither glued nor allowed."""
    body = prose(text)
    for entry in allowed:
        body = body.replace(entry, " ")
    return [(body.count("\n", 0, m.start()) + 1, m.group(0), body.splitlines()[body.count("\n", 0, m.start())].strip())
            for m in DECIMAL.finditer(body)]


def chapters() -> list:
    return sorted(p for p in BOOK.rglob("*.md") if "runs" not in p.relative_to(BOOK).parts[:1]
                  and "_build" not in p.parts)


@pytest.mark.parametrize("path", chapters(), ids=lambda p: str(p.relative_to(BOOK)))
def test_chapter_prose_has_no_untraced_decimal_numbers(path):
    found = untraced_numbers(path.read_text())
    assert not found, (f"{path.relative_to(ROOT)}: numbers in prose that no cell computed (glue them, or "
                       f"add a cited figure with its source to ALLOWED):\n"
                       + "\n".join(f"  {n!r} in: {line}" for _, n, line in found))


def test_the_chapters_are_found():
    names = {str(p.relative_to(BOOK)) for p in chapters()}
    assert {"intro.md", "loss.md", "samples.md", "beyond/likelihood.md", "beyond/seeds.md"} <= names


BAD = """---
kernelspec:
  name: python3
---

# A chapter

The model reaches 101.4 nats, and its samples are sharp in 73.5 % of cases.

```{code-cell} ipython3
glue("nll", 101.4)   # code is not prose
```

Here the number is glued: {glue:text}`nll:.1f` nats; math $\\sigma = 0.52$ and $$x = 6.3$$ are fine,
so is code `k = 0.5`, a citation {cite:t}`burda2016iwae` and the published 86.76 (allowed).

```{glue:figure} fig
:name: fig-x

A caption is prose too: 0.25 of the pixels.
```
"""


def test_the_guard_catches_typed_numbers():
    found = [n for _, n, _ in untraced_numbers(BAD)]
    assert found == ["101.4", "73.5", "0.25"], found


def test_the_guard_leaves_glue_math_code_and_citations_alone():
    good = ("Glued {glue:text}`x:.2f`, math $a = 1.5$, {math}`b = 2.5`, code `c = 3.5`, "
            "cite {cite:p}`kingma2014vae`, a [link](https://example.org/v1.2/) and integers 10,000 and 50.")
    assert untraced_numbers(good) == []


def test_every_allowlist_entry_names_its_source():
    for entry, source in ALLOWED.items():
        assert DECIMAL.search(entry), f"{entry!r} holds no decimal number: drop it from ALLOWED"
        assert len(source.split()) >= 4, f"{entry!r}: say where the figure comes from"
