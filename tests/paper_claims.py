"""What the book says about the paper, checked against the paper's text.

Used by ``tests/test_prose_paper.py``. Three rules, each readable on its own:

1. **Claims are listed.** A *claim* is a unit of prose (a sentence, a heading, a figure caption's
   sentence, a table cell) whose subject is the paper: "the paper" (or "the paper's text",
   "Gupta et al.", "the report", "the authors") followed by a verb ("the paper says / shows /
   trains / does not ..."), or "according to the paper". Every claim in the chapters must be an
   entry of the allowlist ``tests/paper_claims.toml``, word for word (whitespace normalised), and
   every entry must still occur in its chapter.
2. **Each entry carries its evidence.** ``quotes``: phrases that must occur verbatim in the paper's
   text; ``absent``: words that must *not* occur in it, anywhere, in any case (for claims that the
   paper leaves something out). An entry has at least one of them.
3. **Quotes next to the paper are the paper's words.** In any unit that names the paper, every
   double-quoted phrase must occur verbatim in the paper's text (unless the entry lists it under
   ``not_the_papers``, for a quote from another source in the same sentence). A sentence in which
   "the paper" is another work (Burda et al.'s, say) is listed with ``other_work`` naming it. Cells of a table
   column headed "... the paper says" are claims too, listed as "<first cell of the row>: <cell>"
   (a cell "nothing" needs ``absent`` words).

Prose means the chapters' Markdown outside code cells, code blocks, math blocks and directive
options; roles (``{glue:text}`...```, ``{cite:p}`...```) stay in the text as written, so an
allowlist entry is the sentence exactly as it appears in the source.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Iterable, List, Optional

from vae_mnist.measures import paper as _paper
from vae_mnist.measures.paper import ENV_PAPER, normalise, paper_text  # noqa: F401  (one reader of the paper's text)

from helpers import ROOT
ALLOWLIST = Path(__file__).with_name("paper_claims.toml")
#: The chapters whose prose is checked (run pages are generated from the template, checked here).
#: README.md is not a page of the book: its change notes quote the old, wrong sentences on purpose.
CHAPTER_GLOBS = ("book/*.md", "book/beyond/*.md", "book/templates/run.md")

_SUBJECT = (r"(?:the\s+paper(?:'s\s+(?:own\s+)?(?:text|results\s+section|reference\s+list|references|abstract"
            r"|introduction|section\s+[IVX]+|captions?|figure\s+captions?|description|settings))?"
            r"|gupta\s+et\s+al\.?|gupta,\s+reddy\s+and\s+starliper|the\s+report|the\s+authors|its\s+authors)")
_ADVERBS = (r"(?:\s+(?:itself|also|only|never|then|instead|first|not|just|explicitly|too|merely|already"
            r"|nowhere|neither|nor|otherwise))*")
_VERB = (r"\s+(?:[a-z]+(?:s|ed)|did|does|do|is|was|has|had|can|cannot|could|will|would|gave|made|took|wrote"
         r"|drew|chose|saw|set|put|leaves|left)\b")
CLAIM = re.compile(rf"\b{_SUBJECT}{_ADVERBS}{_VERB}|\baccording\s+to\s+the\s+paper\b", re.IGNORECASE)
NAMES_PAPER = re.compile(r"\bthe\s+paper\b|\bgupta\b|\bthe\s+report\b", re.IGNORECASE)
QUOTE = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d")
PAPER_COLUMN = re.compile(r"the\s+paper\s+says", re.IGNORECASE)

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\s*(\{[^}]*\}|[\w+-]*)")
#: Directives whose body is prose (captions, admonitions); every other fenced block is code or math.
_PROSE_DIRECTIVES = {"{glue:figure}", "{figure}", "{note}", "{warning}", "{admonition}", "{tip}", "{important}",
                     "{seealso}", "{margin}", "{sidebar}", "{epigraph}", "{table}", "{list-table}"}
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "Fig.", "vs.", "cf.", "No.", "Eq.")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of prose: a sentence, a heading or a table cell, with where it was found."""

    path: str
    line: int
    text: str
    paper_cell: bool = False   # a cell of a table column headed "the paper says"

    @property
    def is_claim(self) -> bool:
        return self.paper_cell or bool(CLAIM.search(self.text))

    @property
    def names_paper(self) -> bool:
        return self.paper_cell or bool(NAMES_PAPER.search(self.text))




# --------------------------------------------------------------------------------------
# Prose extraction
# --------------------------------------------------------------------------------------
def _prose_blocks(source: str):
    """(first line number, lines) of each paragraph of prose in a MyST Markdown source.

    Headings and table rows are blocks of one line; fenced code, code cells and display math are
    dropped; the body of a prose directive (a figure's caption) is kept without its options.
    """
    lines = source.splitlines()
    i, n = 0, len(lines)
    if lines and lines[0].strip() == "---":  # front matter
        i = 1
        while i < n and lines[i].strip() != "---":
            i += 1
        i += 1
    blocks, block, start = [], [], None

    def flush():
        nonlocal block, start
        if block:
            blocks.append((start, block))
        block, start = [], None

    while i < n:
        line = lines[i]
        stripped = line.strip()
        m = _FENCE.match(line)
        if m:
            flush()
            fence, info = m.group(2), m.group(3)
            end = i + 1
            while end < n and not lines[end].strip().startswith(fence):
                end += 1
            if info in _PROSE_DIRECTIVES:
                j = i + 1
                while j < end and re.match(r"^\s*:[\w-]+:", lines[j]):  # directive options
                    j += 1
                for k in range(j, end):
                    if lines[k].strip():
                        if start is None:
                            start = k + 1
                        block.append(lines[k])
                    else:
                        flush()
                flush()
            i = end + 1
            continue
        if stripped.startswith("$$"):  # display math, to the closing $$
            flush()
            end = i
            if stripped.count("$$") < 2:
                end = i + 1
                while end < n and "$$" not in lines[end]:
                    end += 1
            i = end + 1
            continue
        if not stripped or stripped.startswith("<!--") or re.match(r"^\(.*\)=$", stripped) \
                or stripped.startswith("+++"):
            flush()
        elif stripped.startswith("#") or stripped.startswith("|"):
            flush()
            blocks.append((i + 1, [line]))
        else:
            if start is None:
                start = i + 1
            block.append(line)
        i += 1
    flush()
    return blocks


def split_sentences(text: str) -> List[str]:
    """Split a paragraph after ., ! or ? followed by a space and a capital, quote, role or bracket."""
    protected = text
    for k, abbr in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbr, abbr.replace(".", f"\x00{k}\x00"))
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"*({$\u201c])", protected)
    out = []
    for p in parts:
        p = re.sub(r"\x00\d+\x00", ".", p).strip()
        if p:
            out.append(p)
    return out


def _table_cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def prose_units(path: Path, root: Path = ROOT) -> List[Unit]:
    """Every unit of prose of one chapter, in order."""
    rel = path.relative_to(root).as_posix() if path.is_absolute() and root in path.parents else str(path)
    units: List[Unit] = []
    paper_column: Optional[int] = None
    for start, block in _prose_blocks(path.read_text(encoding="utf-8")):
        first = block[0].strip()
        if first.startswith("|"):
            cells = _table_cells(first)
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
            header = [i for i, c in enumerate(cells) if PAPER_COLUMN.search(c)]
            if header:  # a header row: remember which column holds what the paper says
                paper_column = header[0]
                continue
            for col, cell in enumerate(cells):
                if not cell:
                    continue
                if col == paper_column:  # named by its row: "Seed: nothing"
                    units.append(Unit(rel, start, normalise(f"{cells[0]}: {cell}"), paper_cell=True))
                else:
                    units.append(Unit(rel, start, normalise(cell)))
            continue
        paper_column = None
        if first.startswith("#"):
            units.append(Unit(rel, start, normalise(first.lstrip("#"))))
            continue
        text = normalise(" ".join(s.strip() for s in block))
        # A list item starts a new unit.
        for item in re.split(r"(?:^|\s)(?=(?:[*-]|\d+\.)\s)", " ".join(s.strip() for s in block)) \
                if re.match(r"^\s*(?:[*-]|\d+\.)\s", block[0]) else [text]:
            item = normalise(re.sub(r"^(?:[*-]|\d+\.)\s+", "", item.strip()))
            units.extend(Unit(rel, start, s) for s in split_sentences(item))
    return units


def chapter_paths(root: Path = ROOT) -> List[Path]:
    paths = []
    for pattern in CHAPTER_GLOBS:
        paths.extend(sorted(root.glob(pattern)))
    return paths


def all_units(root: Path = ROOT) -> List[Unit]:
    return [u for p in chapter_paths(root) for u in prose_units(p, root)]


# --------------------------------------------------------------------------------------
# The allowlist and the paper's text
# --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Entry:
    file: str
    sentence: str
    quotes: List[str]
    absent: List[str]
    not_the_papers: List[str]
    other_work: str = ""   # "the paper" here means another work (named), not the reproduced paper

    @property
    def key(self):
        return (self.file, normalise(self.sentence))


def load_allowlist(path: Path = ALLOWLIST) -> List[Entry]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Entry(file=e["file"], sentence=e["sentence"], quotes=list(e.get("quotes", [])),
                  absent=list(e.get("absent", [])), not_the_papers=list(e.get("not_the_papers", [])),
                  other_work=e.get("other_work", ""))
            for e in data.get("claim", [])]


def find_paper(root: Path = ROOT) -> Optional[Path]:
    """The paper's text: ``$VAE_MNIST_PAPER`` (a file or a folder), else ``../shared/paper``."""
    return _paper.find_paper(root)


def in_paper(phrase: str, text: str) -> bool:
    return normalise(phrase) in text


def unlisted_claims(units: Iterable[Unit], entries: Iterable[Entry]) -> List[Unit]:
    """Claims about the paper that the allowlist does not hold."""
    keys = {e.key for e in entries}
    return [u for u in units if u.is_claim and (u.path, u.text) not in keys]


def stale_entries(units: Iterable[Unit], entries: Iterable[Entry]) -> List[Entry]:
    """Allowlist entries whose sentence no longer occurs in their chapter."""
    present = {(u.path, u.text) for u in units}
    return [e for e in entries if e.key not in present]


def entries_without_evidence(entries: Iterable[Entry]) -> List[Entry]:
    return [e for e in entries if not e.quotes and not e.absent and not e.other_work]


def evidence_problems(entries: Iterable[Entry], text: str) -> List[str]:
    """Each quote not found in the paper and each 'absent' word found in it, as readable lines."""
    problems = []
    lowered = text.lower()
    for e in entries:
        for q in e.quotes:
            if not in_paper(q, text):
                problems.append(f"{e.file}: quote not in the paper: {q!r}\n    (entry: {e.sentence[:100]!r})")
        for word in e.absent:
            if normalise(word).lower() in lowered:  # a substring: "initiali" catches initialise, -ize, -ization
                problems.append(f"{e.file}: the paper does contain {word!r}, so it does not leave it out\n"
                                f"    (entry: {e.sentence[:100]!r})")
    return problems


def quoted_phrases(text: str) -> List[str]:
    """Double-quoted phrases of a unit, outside inline code and roles (`...`)."""
    return [a or b for a, b in QUOTE.findall(re.sub(r"`[^`]*`", "", text))]


def misquotes(units: Iterable[Unit], entries: Iterable[Entry], text: str) -> List[str]:
    """Double-quoted phrases in units that name the paper, which the paper does not contain."""
    others, elsewhere = {}, {e.key for e in entries if e.other_work}
    for e in entries:
        others.setdefault(e.key, set()).update(normalise(q) for q in e.not_the_papers)
    problems = []
    for u in units:
        if not u.names_paper or (u.path, u.text) in elsewhere:
            continue
        allowed = others.get((u.path, u.text), set())
        for q in quoted_phrases(u.text):
            q = q.strip().rstrip(".,;:")
            if normalise(q) not in allowed and not in_paper(q, text):
                problems.append(f"{u.path}:{u.line}: {q!r} is quoted next to the paper but is not in its text\n"
                                f"    ({u.text[:120]!r})")
    return problems


# --------------------------------------------------------------------------------------
# Rule 4: the book's own settings are never given to the paper
# --------------------------------------------------------------------------------------
#: The settings the paper does not state and the book chose, with the words that name each.
BOOK_SETTINGS = {
    "decoder likelihood": r"bernoulli|binary\s+cross[- ]entropy|\bBCE\b",
    "activation": r"\bReLU\b|rectified\s+linear|\bsigmoid\b|\btanh\b",
    "optimizer": r"\badam\b|\brmsprop\b|\bSGD\b",
    "learning rate": r"learning\s+rate|10\^\{-3\}|\b0\.001\b|\b1e-3\b",
    "grid rule": r"k\s*/\s*\(\s*n\s*\+\s*1\s*\)|\bn\s*=\s*20\b|linspace",
    "binarization": r"binari[sz]",
    "shuffling": r"shuffl",
}
_SETTING = re.compile("|".join(f"(?:{p})" for p in BOOK_SETTINGS.values()), re.IGNORECASE)
#: "the paper" as owner or agent of what follows.
_PAPER_MENTION = re.compile(r"\bthe\s+paper(?:'s)?\b|\bas\s+in\s+the\s+paper\b", re.IGNORECASE)
#: Words after which the rest of a clause is no longer about the paper ("the paper names *no*
#: activation; *the book* uses ReLU").
_CONTRAST = re.compile(r"\b(?:no|not|nothing|neither|nor|none|book|book's|our|ours|we|this|unlike|instead|while"
                       r"|whereas|but|although|than|keras|example|example's|chose|choice|own|gives?\s+neither)\b",
                       re.IGNORECASE)
#: Phrases that hand all of the book's defaults to the paper, whatever follows.
_ALWAYS = re.compile(r"\bpaper\s+defaults?\b|\bdiffers?\s+from\s+the\s+paper\b(?!'s)"
                     r"|\bthe\s+paper's\s+(?:own\s+|other\s+|training\s+)*(?:settings|defaults?)\b", re.IGNORECASE)
_WINDOW = 100


def _setting_names(text: str) -> List[str]:
    return [name for name, pattern in BOOK_SETTINGS.items() if re.search(pattern, text, re.IGNORECASE)]


def _unstated(found: str, paper: str) -> bool:
    """A setting's words that the paper's text does not itself contain."""
    return normalise(found).lower() not in paper.lower()


def settings_given_to_paper(text: str, paper: str) -> List[str]:
    """The book's settings that ``text`` (one sentence, cell or table row) attributes to the paper.

    A setting is attributed when it follows a mention of the paper in the same clause with no word
    of contrast between them ("the paper's Bernoulli decoder", "the paper's network (784-512-z,
    ReLU, Adam"), or stands in the same parentheses as such a mention with no contrast word at all
    ("(Bernoulli decoder, the paper's training settings)"), unless the paper's own text has the
    setting's words. Phrases that hand every default to the paper ("paper default", "differ from
    the paper", "the paper's settings") count always.
    """
    problems = []
    clean = re.sub(r"(?:\{[\w:-]+\})?`[^`]*`", " ", text)   # roles (glue, doc, cite) and code name no setting
    if _ALWAYS.search(clean):
        problems.append(f"hands the book's defaults to the paper ({_ALWAYS.search(clean).group(0)!r})")
    for m in _PAPER_MENTION.finditer(clean):
        window = re.split(r"[;.]\s", clean[m.end():m.end() + _WINDOW], maxsplit=1)[0]
        stop = _CONTRAST.search(window)
        window = window[:stop.start()] if stop else window
        for s in _SETTING.finditer(window):
            if _unstated(s.group(0), paper):
                problems.append(f"{_setting_names(s.group(0))[0]} ({s.group(0)!r}) after {m.group(0)!r}")
        open_at = clean.rfind("(", 0, m.start())
        if open_at >= 0 and clean.find(")", open_at, m.start()) < 0:
            close_at = clean.find(")", m.end())
            group = clean[open_at:close_at + 1 if close_at >= 0 else len(clean)]
            if not _CONTRAST.search(group):
                for s in _SETTING.finditer(group):
                    if _unstated(s.group(0), paper):
                        problems.append(f"{_setting_names(s.group(0))[0]} ({s.group(0)!r}) beside {m.group(0)!r}")
    return sorted(set(problems))


def table_rows(path: Path, root: Path = ROOT):
    """(path, line, row text) of each table body row of a chapter: cells joined by " | "."""
    rel = path.relative_to(root).as_posix() if path.is_absolute() and root in path.parents else str(path)
    rows = []
    for start, block in _prose_blocks(path.read_text(encoding="utf-8")):
        first = block[0].strip()
        if first.startswith("|"):
            cells = _table_cells(first)
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                rows.append((rel, start, cells))
    return rows


def settings_problems(units: Iterable[Unit], rows, paper: str) -> List[str]:
    """Every unit, and every table row whose cell credits the row to the paper, that gives the
    paper one of the book's settings (see :func:`settings_given_to_paper`)."""
    out = []
    for u in units:
        for p in settings_given_to_paper(u.text, paper):
            out.append(f"{u.path}:{u.line}: {p}\n    ({u.text[:140]!r})")
    for path, line, cells in rows:
        if any(re.match(r"^(?:the\s+paper's\s+words|as\s+in\s+the\s+paper)\b", c, re.IGNORECASE) for c in cells):
            for c in cells:
                for s in _SETTING.finditer(re.sub(r"\{[\w:-]+\}`[^`]*`", " ", c)):
                    if _unstated(s.group(0), paper):
                        out.append(f"{path}:{line}: {_setting_names(s.group(0))[0]} ({s.group(0)!r}) in a row "
                                   f"credited to the paper's words\n    ({' | '.join(cells)[:140]!r})")
    return out
