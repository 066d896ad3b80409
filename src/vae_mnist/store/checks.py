"""Checking the files of a cache entry (:mod:`vae_mnist.store.entries`): what is wrong, as a :class:`Problem`.

The building blocks of every kind's check (:func:`vae_mnist.store.run_checks.check_run`,
:func:`vae_mnist.measures.classifier.check_classifier`): the folder and its files exist and are not empty,
JSON files parse into objects, a Keras archive is complete (CRCs) and loads in safe mode, the
recorded code hash is the current one. Also the atomic JSON write every entry uses.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import NamedTuple, Optional, Sequence


# --------------------------------------------------------------------------------------
# Checking an entry's files
# --------------------------------------------------------------------------------------
class Problem(NamedTuple):
    """What is wrong with an entry: ``kind`` is ``damaged`` or ``stale``."""

    kind: str
    file: str
    reason: str


def read_json(folder: Path, file: str):
    """``(object, None)``, or ``(None, Problem)`` when ``folder/file`` is not a readable JSON object."""
    try:
        text = (Path(folder) / file).read_text()
    except OSError as exc:
        return None, Problem("damaged", file, f"cannot be read ({exc.strerror or exc})")
    except UnicodeDecodeError:
        return None, Problem("damaged", file, "not text (corrupt)")
    if not text.strip():
        return None, Problem("damaged", file, "empty")
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return None, Problem("damaged", file, f"not valid JSON (truncated or corrupt: {exc.msg} at line {exc.lineno})")
    if not isinstance(obj, dict):
        return None, Problem("damaged", file, f"holds a JSON {type(obj).__name__}, not an object")
    return obj, None


def write_json(path: Path, obj) -> None:
    """Write ``obj`` to ``path`` atomically, through a uniquely named temporary file beside it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_files(folder: Path, files: Sequence[str]) -> Optional[Problem]:
    """The entry folder exists and holds every one of ``files``, none of them empty."""
    folder = Path(folder)
    if not folder.is_dir():
        return Problem("damaged", folder.name, "not a folder")
    for f in files:
        p = folder / f
        if not p.is_file():
            return Problem("damaged", f, "missing")
        if p.stat().st_size == 0:
            return Problem("damaged", f, "empty")
    return None


def check_keras_archive(folder: Path, file: str) -> Optional[Problem]:
    """``folder/file`` is a complete Keras archive whose members' CRCs match (no model is loaded)."""
    import zipfile

    try:
        with zipfile.ZipFile(Path(folder) / file) as z:
            missing = {"config.json", "model.weights.h5"} - set(z.namelist())
            if missing:
                return Problem("damaged", file, f"archive lacks {', '.join(sorted(missing))}")
            bad = z.testzip()
            if bad is not None:
                return Problem("damaged", file, f"corrupt archive member {bad} (CRC mismatch)")
    except zipfile.BadZipFile as exc:
        return Problem("damaged", file, f"not a Keras archive (truncated or corrupt: {exc})")
    except (OSError, EOFError, RuntimeError, ValueError) as exc:
        return Problem("damaged", file, f"cannot be read ({exc})")
    return None


def load_keras_archive(folder: Path, file: str):
    """``(model, None)``, or ``(None, Problem)`` if it does not load (safe mode: no code from the archive runs)."""
    import keras  # (a model class of this package is registered by its caller importing it first)

    try:
        return keras.models.load_model(Path(folder) / file, safe_mode=True), None
    except Exception as exc:  # Keras raises many types for a damaged archive
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, Problem("damaged", file, f"does not load ({type(exc).__name__}: {first[:200]})")


def check_code_hash(recorded, current: str, file: str, made: str) -> Optional[Problem]:
    """``stale`` when the recorded code hash is not ``current`` (``made``: "trained by other training code")."""
    if recorded == current:
        return None
    why = "no code hash recorded" if recorded is None else f"code {recorded}, now {current}"
    return Problem("stale", file, f"{made} ({why})")
