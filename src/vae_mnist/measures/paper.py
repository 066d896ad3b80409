"""What the paper itself states about the settings of a run: ONE table, each value with its quote.

The paper (Gupta, Reddy and Starliper) states only some of the settings a run needs: the latent
sizes, the epochs, the batch size, the hidden layer's size, the data set and its split, and a
decoder with "Gaussian output". Everything else a run needs (the Bernoulli decoder the book uses by
default, the optimizer and its learning rate, the seed, the binarization, how the reconstruction
term is reduced) is the book's choice. :data:`PAPER_SETTINGS` holds what the paper states, each
value with the paper's exact words and section; the run pages' parameters table is built from it
(:func:`settings_table`), and :func:`check_quotes` raises :class:`PaperQuoteError` when a quote is
not in the paper's text, so a build that has the text fails on a misquote.

The paper's text is not part of the repository (it is not ours to redistribute): it is read from
``$VAE_MNIST_PAPER`` (a file or a folder) or ``../shared/paper/`` beside the project, where present.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Optional, Sequence

from .. import settings
from ..errors import PaperQuoteError

ENV_PAPER = settings.PAPER
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclasses.dataclass(frozen=True)
class StatedSetting:
    """One run parameter whose value the paper states: ``value`` as the paper gives it, in its words."""

    key: str        # the RunConfig field
    value: str      # what the paper states, for a reader
    quote: str      # the paper's exact words (whitespace and curly quotes normalised when checked)
    section: str    # where in the paper


#: THE table of the settings the paper states. A RunConfig field that is not here is the book's choice.
PAPER_SETTINGS: Sequence[StatedSetting] = (
    StatedSetting("latent_dim", "2, 10 or 20", "The code is executed for latent spaces 2, 10 and 20", "IV"),
    StatedSetting("epochs", "50", "The number of epochs are chosen to be 50", "IV"),
    StatedSetting("batch_size", "128", "the batch size chosen is 128", "IV"),
    StatedSetting("hidden_dim", "512", "followed by an intermediate layer of 512 nodes", "III-A"),
    StatedSetting("likelihood", "Gaussian", "For the encoder and decoder we used MLPs with Gaussian output", "I"),
    StatedSetting("dataset", "MNIST", "The dataset used is the MNIST dataset", "II"),
    StatedSetting("train_subset", "all 60,000", "We used 60000 images in the training set", "II"),
    StatedSetting("test_subset", "all 10,000", "10000 images in the test set", "II"),
)


def normalise(text: str) -> str:
    """Whitespace collapsed, curly quotes straightened, emphasis asterisks dropped."""
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    text = text.replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def find_paper(root: Optional[Path] = None) -> Optional[Path]:
    """The paper's text: ``$VAE_MNIST_PAPER`` (a file or a folder), else ``<root>/../shared/paper``."""
    env = settings.text(ENV_PAPER)
    root = PROJECT_ROOT if root is None else Path(root)
    candidates = [Path(env)] if env else [root.parent / "shared" / "paper"]
    for c in candidates:
        if c.is_file():
            return c
        if c.is_dir():
            texts = sorted(c.glob("*.txt")) + sorted(c.glob("*.md"))
            if texts:
                return texts[0]
    return None


def paper_text(path: Path) -> str:
    return normalise(Path(path).read_text(encoding="utf-8"))


def check_quotes(text: str, settings: Sequence[StatedSetting] = PAPER_SETTINGS) -> None:
    """Raise :class:`PaperQuoteError` naming every setting whose quote is not in ``text``."""
    text = normalise(text)
    missing = [s for s in settings if normalise(s.quote) not in text]
    if missing:
        raise PaperQuoteError("not in the paper's text: " + "; ".join(f"{s.key} quote {s.quote!r}" for s in missing))


def checked_settings(path: Optional[Path] = None) -> str:
    """Check :data:`PAPER_SETTINGS` against the paper's text where it is found; say what was done.

    Returns a short phrase for the page ("checked against the paper's text" or why not); raises
    :class:`PaperQuoteError` on a quote the text does not contain.
    """
    path = find_paper() if path is None else Path(path)
    if path is None or not path.is_file():
        return f"the paper's text was not found (set {ENV_PAPER}), so the quotes were not checked in this build"
    check_quotes(paper_text(path))
    return "each quote checked against the paper's text when this page was built"


def stated(key: str) -> Optional[StatedSetting]:
    return next((s for s in PAPER_SETTINGS if s.key == key), None)


def settings_table(config, defaults, data_dir=None, status: Optional[str] = None) -> str:
    """The run page's parameters table: this run's value, the book's default, what the paper states.

    Values that differ from the book's default are in bold. ``status`` is the result of
    :func:`checked_settings` (computed here when not given).
    """
    status = checked_settings() if status is None else status

    def shown(key, value):
        return "all" if value is None and key.endswith("_subset") else value

    lines = ["| parameter | this run | the book's default | what the paper states (its words, section) |",
             "|---|---|---|---|"]
    for key, value in config.to_dict().items():
        default = getattr(defaults, key)
        mark = f"**{shown(key, value)}**" if value != default else f"{shown(key, value)}"
        s = stated(key)
        paper = f"{s.value}: \"{s.quote}\" ({s.section})" if s else "nothing (the book's choice)"
        lines.append(f"| `{key}` | {mark} | {shown(key, default)} | {paper} |")
    if data_dir is not None:
        lines.append(f"| `data_dir` | `{data_dir}` | (environment) | |")
    lines += ["", f"Values in bold differ from the book's defaults. The last column quotes the paper where it "
              f"states a value ({status}); every other value is the book's choice.", ""]
    return "\n".join(lines)
