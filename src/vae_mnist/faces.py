"""Lazy public faces for the subpackages (the PEP 562 pattern of scientific Python's ``lazy_loader``).

A subpackage's ``__init__`` lists its public names and the module each lives in; a name is imported
on first use. So ``import vae_mnist.core.data`` or ``from vae_mnist.store import open_run`` loads only
the modules it needs, and no face imports TensorFlow by being imported.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Sequence, Tuple


def lazy_face(package: str, homes: Dict[str, str], modules: Sequence[str]) -> Tuple[Callable, Callable, List[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose public names live as ``homes`` says."""
    names = sorted(homes) + list(modules)

    def __getattr__(name: str):
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name in homes:
            return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> List[str]:
        return names

    return __getattr__, __dir__, names
