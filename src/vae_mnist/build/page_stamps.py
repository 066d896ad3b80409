"""Hashes and stamps: what a run page or the chapters' execution cache was built from.

A run page carries a stamp (template + package sources + parameters + profile) in its metadata;
``_build/<STAMP_FILE>`` records the package hash and profile the chapters were executed with.
Either changing makes the build redo that part, never silently reuse it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Optional

from ..profiles import current_profile
from ..version import source_hash

STAMP_FILE = ".vae_mnist_stamp.json"


def run_stamp(template: Path, parameters: dict, profile: Optional[str] = None,
              src_hash: Optional[str] = None) -> str:
    """Hash of the template, the package sources, the parameters and the profile."""
    payload = json.dumps({
        "template": hashlib.sha256(Path(template).read_bytes()).hexdigest(),
        "src": src_hash or source_hash(),
        "parameters": parameters,
        "profile": current_profile(profile),
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def read_stamp(path: Path) -> Optional[str]:
    try:
        nb = json.loads(Path(path).read_text())
        return nb.get("metadata", {}).get("vae_mnist", {}).get("stamp")
    except (OSError, ValueError):
        return None


def invalidate_execution_cache(root: Path, stamp: dict, say=print) -> bool:
    """Drop the jupyter-cache and Sphinx's environment when the package or profile changed.

    jupyter-cache keys a notebook on its own code only, and Sphinx re-reads only changed
    files; neither sees the ``src`` package. Returns whether anything was dropped.
    """
    build = root / "_build"
    path = build / STAMP_FILE
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if old == stamp:
        return False
    dropped = False
    for sub in (".jupyter_cache", ".doctrees", "html", "jupyter_execute"):
        if (build / sub).exists():
            shutil.rmtree(build / sub, ignore_errors=True)
            dropped = True
    if dropped:
        why = "first build with a stamp" if old is None else \
            ", ".join(k for k in stamp if old.get(k) != stamp[k]) + " changed"
        say(f"execution cache dropped ({why}): every chapter will re-execute")
    return dropped


def write_stamp(root: Path, stamp: dict) -> None:
    build = root / "_build"
    build.mkdir(parents=True, exist_ok=True)
    (build / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
