"""The results ledger: one record of what a built book shows, and the difference between two of them.

:func:`book_ledger` reads what the build already has, never computing anything again: every glued
value and every figure of the executed chapters and run pages (``_build/jupyter_execute``), every run
the book shows from the run cache (configuration, code hash, software versions, metrics, a hash of its
training history), and the hashes of the package and the lock. :func:`write_ledger` writes it to
``_build/results.json`` (the book publishes a copy beside its HTML).

:func:`diff_ledgers` compares two ledgers: numbers beyond a relative tolerance (exact by default: the
runs reproduce bit for bit), the sentences whose glued words changed, figures whose pixels changed (and
by how much, from a 32 x 32 grey thumbnail), runs added, removed or retrained. ``vae-mnist diff`` prints
it as text or Markdown with ``diff``'s exit status: 0 identical, 1 changed, 2 could not compare.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .errors import VaeMnistError

LEDGER_FILE = "results.json"
FORMAT = 1
GLUE_PREFIX = "application/papermill.record/"
THUMB = 32                      # figures are compared on a THUMB x THUMB grey thumbnail
SE_SUFFIX = "_se"               # a glued ``<name>_se`` is the standard error of the glued ``<name>``
LOCK_FILE = "requirements-lock.txt"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan")
_WRAPPER = re.compile(r"^(?:np\.\w+\()?(.*?)\)?$")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-Z{(*$])")


class LedgerError(VaeMnistError):
    """A ledger that cannot be read or compared (the diff's exit status 2)."""


# --------------------------------------------------------------------------------------------------
# Reading a built book
# --------------------------------------------------------------------------------------------------
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plain_number(text: str) -> Optional[float]:
    """The number a glued value's ``text/plain`` shows (``150.5``, ``np.float64(150.5)``, ``3``), else ``None``."""
    inner = _WRAPPER.match(text.strip()).group(1).strip()
    if inner in ("True", "False") or not _NUMBER.fullmatch(inner):
        return None
    return float(inner)


def thumbnail(png: bytes) -> dict:
    """Hash of a PNG's decoded pixels, its size and a THUMB x THUMB grey thumbnail (base64 of bytes)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgba = im.convert("RGBA")
        grey = rgba.convert("L").resize((THUMB, THUMB), Image.BOX)
        return {"pixels": sha256(rgba.tobytes()), "size": list(rgba.size),
                "thumb": base64.b64encode(grey.tobytes()).decode("ascii")}


def glue_references(source: str) -> Dict[str, List[str]]:
    """For each glued name a chapter's text pastes (``{glue:text}`name:.2f```), the sentences around it."""
    out: Dict[str, List[str]] = {}
    for paragraph in re.split(r"\n\s*\n", source):
        if "{glue" not in paragraph:
            continue
        flat = " ".join(line.strip() for line in paragraph.splitlines())
        for sentence in _SENTENCE_END.split(flat):
            for name in re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", sentence):
                text = sentence if len(sentence) <= 400 else sentence[:397] + "..."
                if text not in out.setdefault(name, []):
                    out[name].append(text)
    return out


def notebook_outputs(path: Path):
    """``(code cell number, output)`` for every output of an executed notebook, then its glued values.

    MyST-NB keeps glued values out of the notebook it writes (``<chapter>.ipynb``) and stores them beside
    it, ``<chapter>.glue.json``; papermill's run pages keep them in the cells' outputs.
    """
    nb = json.loads(Path(path).read_text())
    code_cell = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            code_cell += 1
            for output in cell.get("outputs", []):
                yield code_cell, output
    glue = Path(path).with_suffix(".glue.json")
    if glue.is_file():
        for output in json.loads(glue.read_text()).values():
            yield None, output


def notebook_records(path: Path, chapter: str, source: Optional[str]) -> tuple:
    """The glued values and the figures of one executed notebook."""
    refs = glue_references(source or "")
    glued: Dict[str, dict] = {}
    figures: Dict[str, dict] = {}
    shown: Dict[int, int] = {}
    for code_cell, output in notebook_outputs(path):
        data = output.get("data") or {}
        name = (output.get("metadata") or {}).get("scrapbook", {}).get("name")
        if name:
            data = {k[len(GLUE_PREFIX):] if k.startswith(GLUE_PREFIX) else k: v for k, v in data.items()}
        png = data.get("image/png")
        if png is not None:
            png = "".join(png) if isinstance(png, list) else png
            if name:
                label = name
            else:
                shown[code_cell] = shown.get(code_cell, 0) + 1
                label = f"cell {code_cell}" + (f" #{shown[code_cell]}" if shown[code_cell] > 1 else "")
            figures[f"{chapter}:{label}"] = {"chapter": chapter, "label": label, **thumbnail(base64.b64decode(png))}
            continue
        if not name:
            continue
        kind = "markdown" if "text/markdown" in data else "text"
        text = data.get("text/markdown") or data.get("text/plain") or ""
        text = "".join(text) if isinstance(text, list) else text
        record = {"chapter": chapter, "name": name, "kind": kind, "value": text}
        number = plain_number(text) if kind == "text" else None
        if number is not None:
            record["kind"] = "number"
            record["number"] = number
        if name in refs:
            record["sentences"] = refs[name]
        glued[f"{chapter}:{name}"] = record
    for key, record in glued.items():  # a glued <name>_se is <name>'s standard error
        se = glued.get(key + SE_SUFFIX)
        if record["kind"] == "number" and se is not None and se["kind"] == "number":
            record["se"] = se["number"]
    return glued, figures


def executed_notebooks(root: Path) -> Dict[str, Path]:
    """``chapter -> executed notebook`` for every chapter and run page of the built book at ``root``."""
    from .pages import RUNS_DIR

    found: Dict[str, Path] = {}
    execute = root / "_build" / "jupyter_execute"
    for path in sorted(execute.rglob("*.ipynb")):
        found[path.relative_to(execute).with_suffix("").as_posix()] = path
    for path in sorted((root / RUNS_DIR).glob("*.ipynb")):  # the run pages, executed by papermill
        found.setdefault(path.relative_to(root).with_suffix("").as_posix(), path)
    return found


def run_record(run) -> dict:
    metrics = {}
    for key, value in sorted(run.metrics.items()):
        if isinstance(value, bool) or key == "software":
            continue
        if isinstance(value, (int, float)):
            metrics[key] = value
        elif isinstance(value, dict):
            for k, v in sorted(value.items()):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    metrics[f"{key}.{k}"] = v
    history = (Path(run.path) / "history.json").read_bytes()
    return {"config": run.config.to_dict(), "code_hash": run.code_hash, "software": run.metrics.get("software", {}),
            "history": sha256(history), "epochs": len(json.loads(history).get("loss", [])), "metrics": metrics}


def book_ledger(root, profile: Optional[str] = None, seeds: Optional[int] = None, package: Optional[str] = None) -> dict:
    """The ledger of the book built at ``root`` (its executed notebooks and the runs of the run cache)."""
    from .page_stamps import STAMP_FILE
    from .profiles import book_runs
    from .runs import Run, cache_dir, run_path

    root = Path(root)
    try:
        stamp = json.loads((root / "_build" / STAMP_FILE).read_text())
    except (OSError, ValueError):
        stamp = {}
    profile = profile or stamp.get("profile")
    seeds = seeds or stamp.get("seeds")
    notebooks = executed_notebooks(root)
    if not notebooks or profile is None:
        raise LedgerError(f"{root} holds no built book (no executed chapters in _build/jupyter_execute)")
    glued: Dict[str, dict] = {}
    figures: Dict[str, dict] = {}
    for chapter, path in notebooks.items():
        md = root / (chapter + ".md")
        g, f = notebook_records(path, chapter, md.read_text() if md.is_file() else None)
        glued.update(g)
        figures.update(f)
    runs = {}
    for config in book_runs(profile, seeds):
        try:
            runs[config.name()] = run_record(Run(run_path(config)))
        except (OSError, ValueError, VaeMnistError) as exc:
            raise LedgerError(f"the book shows run {config.name()}, which the run cache {cache_dir()} lacks ({exc})")
    lock = root / LOCK_FILE
    if not lock.is_file():  # a copy of the book's sources (the tests' books): the lock of the package's project
        from .page_stamps import package_dir

        lock = package_dir().parents[1] / LOCK_FILE
    return {"format": FORMAT, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "profile": profile, "seeds": seeds, "package": package or stamp.get("src"),
            "lock": sha256(lock.read_bytes()) if lock.is_file() else None, "run_cache": str(cache_dir()),
            "glue": glued, "figures": figures, "runs": runs}


def ledger_path(root) -> Path:
    return Path(root) / "_build" / LEDGER_FILE


def write_ledger(ledger: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def load_ledger(source) -> dict:
    """A ledger from a ``results.json`` file, or from a built book's folder (its ``_build/results.json``,
    the ``results.json`` of an HTML folder, or, for a book built without one, read from its notebooks)."""
    path = Path(source)
    if path.is_dir():
        for candidate in (ledger_path(path), path / LEDGER_FILE):
            if candidate.is_file():
                path = candidate
                break
        else:
            return book_ledger(path)
    if not path.is_file():
        raise LedgerError(f"no ledger at {source} (a results.json, or a built book's folder)")
    try:
        ledger = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LedgerError(f"{path} is not a readable ledger ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    if not isinstance(ledger, dict) or ledger.get("format") != FORMAT:
        found = ledger.get("format") if isinstance(ledger, dict) else type(ledger).__name__
        raise LedgerError(f"{path} is not a ledger of format {FORMAT} (format {found!r})")
    for key in ("glue", "figures", "runs"):
        if not isinstance(ledger.get(key), dict):
            raise LedgerError(f"{path} is damaged: its {key!r} section is missing or not a mapping")
    return ledger


# --------------------------------------------------------------------------------------------------
# The difference between two ledgers
# --------------------------------------------------------------------------------------------------
def numbers_close(a: str, b: str, rtol: float) -> bool:
    """Whether two glued texts are equal up to ``rtol`` in every number they show (the words equal)."""
    if a == b:
        return True
    if rtol <= 0:
        return False
    na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
    if len(na) != len(nb) or _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    for x, y in zip(na, nb):
        x, y = float(x), float(y)
        if not (x == y or abs(x - y) <= rtol * max(abs(x), abs(y))):
            return False
    return True


def thumb_change(old: dict, new: dict) -> tuple:
    """Mean and largest absolute change of two figures' grey thumbnails, as fractions of the grey range."""
    a, b = base64.b64decode(old.get("thumb", "")), base64.b64decode(new.get("thumb", ""))
    if len(a) != len(b) or not a:
        return 1.0, 1.0
    d = [abs(x - y) / 255 for x, y in zip(a, b)]
    return sum(d) / len(d), max(d)


@dataclass
class Diff:
    numbers: List[dict] = field(default_factory=list)      # glued numbers that moved
    words: List[dict] = field(default_factory=list)        # glued words, sentences and tables that changed
    glue_added: List[str] = field(default_factory=list)
    glue_removed: List[str] = field(default_factory=list)
    figures: List[dict] = field(default_factory=list)
    figures_added: List[str] = field(default_factory=list)
    figures_removed: List[str] = field(default_factory=list)
    runs_added: List[str] = field(default_factory=list)
    runs_removed: List[str] = field(default_factory=list)
    runs_changed: List[dict] = field(default_factory=list)
    context: List[str] = field(default_factory=list)       # package, lock, profile: reported, not counted

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f) for f in ("numbers", "words", "glue_added", "glue_removed", "figures",
                                                  "figures_added", "figures_removed", "runs_added",
                                                  "runs_removed", "runs_changed"))

    def chapters(self) -> List[str]:
        """The chapters and run pages with a changed number, word or figure."""
        keys = [c["key"] for c in self.numbers + self.words + self.figures] + self.glue_added + self.glue_removed \
            + self.figures_added + self.figures_removed
        return sorted({k.split(":", 1)[0] for k in keys})


def diff_ledgers(old: dict, new: dict, rtol: float = 0.0) -> Diff:
    out = Diff()
    for key, label in (("package", "package sources"), ("lock", "lock file"), ("profile", "profile"), ("seeds", "seeds")):
        if old.get(key) != new.get(key):
            out.context.append(f"{label}: {str(old.get(key))[:12]} -> {str(new.get(key))[:12]}")
    og, ng = old["glue"], new["glue"]
    out.glue_added = sorted(set(ng) - set(og))
    out.glue_removed = sorted(set(og) - set(ng))
    for key in sorted(set(og) & set(ng)):
        a, b = og[key], ng[key]
        if numbers_close(a.get("value", ""), b.get("value", ""), rtol):
            continue
        change = {"key": key, "kind": b.get("kind"), "old": a.get("value"), "new": b.get("value"),
                  "sentences": b.get("sentences", [])}
        if a.get("kind") == "number" and b.get("kind") == "number":
            x, y = a["number"], b["number"]
            change["delta"] = y - x
            change["relative"] = (y - x) / abs(x) if x else math.inf
            se = b.get("se") or a.get("se")
            if se:
                change["in_se"] = (y - x) / se
            out.numbers.append(change)
        else:
            out.words.append(change)
    of, nf = old["figures"], new["figures"]
    out.figures_added = sorted(set(nf) - set(of))
    out.figures_removed = sorted(set(of) - set(nf))
    for key in sorted(set(of) & set(nf)):
        if of[key].get("pixels") != nf[key].get("pixels"):
            mean, peak = thumb_change(of[key], nf[key])
            out.figures.append({"key": key, "mean": mean, "max": peak})
    orr, nr = old["runs"], new["runs"]
    out.runs_added = sorted(set(nr) - set(orr))
    out.runs_removed = sorted(set(orr) - set(nr))
    for name in sorted(set(orr) & set(nr)):
        a, b = orr[name], nr[name]
        what = []
        if a.get("history") != b.get("history") or a.get("code_hash") != b.get("code_hash"):
            what.append("retrained" + (" (code hash changed)" if a.get("code_hash") != b.get("code_hash") else ""))
        if a.get("config") != b.get("config"):
            what.append("configuration changed")
        if a.get("software") != b.get("software"):
            what.append("software changed: " + ", ".join(
                f"{k} {a['software'].get(k)} -> {b['software'].get(k)}"
                for k in sorted(set(a.get("software", {})) | set(b.get("software", {})))
                if a.get("software", {}).get(k) != b.get("software", {}).get(k)))
        am, bm = a.get("metrics", {}), b.get("metrics", {})
        moved = {k: (am.get(k), bm.get(k)) for k in sorted(set(am) | set(bm))
                 if not numbers_close(repr(am.get(k)), repr(bm.get(k)), rtol)}
        if what or moved:
            out.runs_changed.append({"name": name, "what": what, "metrics": moved})
    return out


def _short(text, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def render(diff: Diff, old_label: str = "old", new_label: str = "new", markdown: bool = False) -> str:
    """The difference as terminal text, or as Markdown (for a CI job summary or the Provenance page)."""
    lines: List[str] = []
    h = (lambda s: lines.extend(["", f"### {s}", ""])) if markdown else (lambda s: lines.extend(["", s]))
    item = (lambda s: lines.append(f"- {s}")) if markdown else (lambda s: lines.append(f"  {s}"))
    code = (lambda s: f"`{s}`") if markdown else (lambda s: s)
    if diff.empty:
        lines.append(f"No result changed between {old_label} and {new_label}: every glued value, figure and run is identical.")
    else:
        n_runs = len(diff.runs_added) + len(diff.runs_removed) + len(diff.runs_changed)
        lines.append(f"Results changed between {old_label} and {new_label}: {len(diff.numbers)} number(s), "
                     f"{len(diff.words)} word(s) or table(s), {len(diff.figures) + len(diff.figures_added) + len(diff.figures_removed)} "
                     f"figure(s), {n_runs} run(s), in {len(diff.chapters())} page(s).")
    if diff.context:
        lines.append(("Built from different inputs: " if diff.empty else "Inputs: ") + "; ".join(diff.context) + ".")
    if diff.runs_added or diff.runs_removed or diff.runs_changed:
        h("Runs")
        for name in diff.runs_added:
            item(f"added {code(name)}")
        for name in diff.runs_removed:
            item(f"removed {code(name)}")
        for change in diff.runs_changed:
            moved = ", ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in list(change["metrics"].items())[:6])
            more = len(change["metrics"]) - 6
            item(f"{code(change['name'])}: " + "; ".join(change["what"] + ([moved + (f" (+{more} more)" if more > 0 else "")]
                                                                            if moved else [])))
    if diff.numbers:
        h("Numbers")
        for c in diff.numbers:
            extra = f", {c['in_se']:+.1f} s.e." if "in_se" in c else ""
            item(f"{code(c['key'])}: {_fmt(plain_number(c['old']))} -> {_fmt(plain_number(c['new']))} "
                 f"({c['delta']:+.4g}, {100 * c['relative']:+.3g}%{extra})")
    if diff.words:
        h("Sentences and tables whose glued words changed")
        for c in diff.words:
            if c["kind"] == "markdown":
                item(f"{code(c['key'])}: the glued table or passage changed")
            else:
                item(f"{code(c['key'])}: {code(_short(c['old']))} -> {code(_short(c['new']))}")
            for s in c["sentences"][:2]:
                lines.append(("  " if markdown else "    ") + f"in: \"{_short(plain_myst(s), 160)}\"")
    if diff.glue_added or diff.glue_removed:
        h("Glued values added or removed")
        for k in diff.glue_added:
            item(f"added {code(k)}")
        for k in diff.glue_removed:
            item(f"removed {code(k)}")
    if diff.figures or diff.figures_added or diff.figures_removed:
        h("Figures")
        for c in diff.figures:
            item(f"{code(c['key'])}: pixels changed, mean {100 * c['mean']:.2f}% / largest {100 * c['max']:.1f}% "
                 "of the grey range on a 32 x 32 thumbnail")
        for k in diff.figures_added:
            item(f"added {code(k)}")
        for k in diff.figures_removed:
            item(f"removed {code(k)}")
    return "\n".join(lines).strip() + "\n"


def ledger_label(ledger: dict, source) -> str:
    when = ledger.get("created", "?")
    return f"{source} (built {when}, package {str(ledger.get('package'))[:12]})"


# --------------------------------------------------------------------------------------------------
# The Provenance page (book/provenance.md includes what the build writes here)
# --------------------------------------------------------------------------------------------------
PROVENANCE_FILE = "provenance.md"
_ROLE = re.compile(r"\{[\w:-]+\}`([^`]*)`")


def plain_myst(text: str) -> str:
    """MyST source made safe to show as text: ``{glue:text}`x:.2f``` -> ``[x]``, a role's target in brackets."""
    return _ROLE.sub(lambda m: "[" + m.group(1).split(":")[0].split("<")[-1].rstrip(">") + "]", text)


def provenance_path(root) -> Path:
    return Path(root) / "_build" / PROVENANCE_FILE


def provenance_markdown(ledger: Optional[dict], diff: Optional[Diff] = None, baseline: Optional[str] = None) -> str:
    """The generated part of the Provenance page: this build's inputs and runs, and what changed."""
    if ledger is None:
        return "The ledger of this build is written once its chapters have run.\n"
    lines = [f"This build (profile `{ledger['profile']}`, {ledger['seeds']} seed(s) per headline model) shows "
             f"{sum(1 for g in ledger['glue'].values() if g['kind'] == 'number')} glued numbers, "
             f"{sum(1 for g in ledger['glue'].values() if g['kind'] != 'number')} glued words, sentences and tables, "
             f"{len(ledger['figures'])} figures and {len(ledger['runs'])} runs. It was built from package sources "
             f"`{str(ledger['package'])[:12]}` and lock file `{str(ledger['lock'])[:12]}` (SHA-256, first 12 digits).",
             "", "| run | epochs | code hash | TensorFlow | Keras | NumPy | test −ELBO |", "|---|---:|---|---|---|---|---:|"]
    for name, run in sorted(ledger["runs"].items()):
        sw = run.get("software", {})
        elbo = run.get("metrics", {}).get("test_neg_elbo")
        lines.append(f"| `{name}` | {run.get('epochs')} | `{str(run.get('code_hash'))[:12]}` | {sw.get('tensorflow', '?')} "
                     f"| {sw.get('keras', '?')} | {sw.get('numpy', '?')} | {'' if elbo is None else f'{elbo:.2f}'} |")
    lines += ["", "## What changed since the build compared with", ""]
    if diff is None:
        lines.append("There was no earlier build to compare with (no earlier ledger in `_build/`, and none given to "
                     "`vae-mnist book --compare`).")
    else:
        lines.append(f"Compared with {baseline}:")
        lines.append("")
        body = render(diff, "that build", "this one", markdown=True)
        lines.append(body.replace("\n### ", "\n#### "))
    return "\n".join(lines).rstrip() + "\n"
