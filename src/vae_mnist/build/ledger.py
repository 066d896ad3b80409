"""The results ledger: one record of what a built book shows (its difference from another: :mod:`vae_mnist.build.results_diff`).

:func:`book_ledger` reads what the build already has, never computing anything again: every glued
value and every figure of the executed chapters and run pages (``_build/jupyter_execute``), every run
the book shows from the run cache (configuration, code hash, software versions, metrics, a hash of its
training history), and the hashes of the package and the lock. :func:`write_ledger` writes it to
``_build/results.json`` (the book publishes a copy beside its HTML).

``vae-mnist diff`` compares two ledgers (:mod:`vae_mnist.build.results_diff`) with ``diff``'s exit status: 0
identical, 1 changed, 2 could not compare (:class:`LedgerError`).
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import VaeMnistError

LEDGER_FILE = "results.json"
FORMAT = 1
GLUE_PREFIX = "application/papermill.record/"
THUMB = 32                      # figures are compared on a THUMB x THUMB grey thumbnail
SE_SUFFIX = "_se"               # a glued ``<name>_se`` is the standard error of the glued ``<name>``
LOCK_FILE = "requirements-lock.txt"
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan")
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
    if inner in ("True", "False") or not NUMBER.fullmatch(inner):
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
    from ..profiles import book_runs
    from ..store.runs import Run, run_path
    from ..store.entries import cache_dir

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
        from ..version import package_dir

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
