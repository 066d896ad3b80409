"""The package's version and the hash of its sources (what a page, an archive or a ledger was made from)."""
from __future__ import annotations

import hashlib
from pathlib import Path

__version__ = "0.1.0"


def package_dir() -> Path:
    """The folder of the installed ``vae_mnist`` package."""
    return Path(__file__).resolve().parent


def source_hash() -> str:
    """SHA-256 of the ``vae_mnist`` package's sources (``*.py``, ``*.json``, ``*.js``), order-independent of mtime."""
    h = hashlib.sha256()
    base = package_dir()
    for p in sorted(base.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".js"):
            h.update(str(p.relative_to(base)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()
