"""The one progress convention: a function taking one line of text, or ``None`` for silence.

Every long-running function takes ``progress: Progress = print`` (the command line passes its own
printer, chapters pass ``None``) and calls ``say = reporter(progress)``.
"""
from __future__ import annotations

from typing import Callable, Optional

Progress = Optional[Callable[[str], None]]


def silent(line: str) -> None:
    """Say nothing."""


def reporter(progress: Progress) -> Callable[[str], None]:
    """``progress`` itself, or :func:`silent` when it is ``None``."""
    return progress if progress is not None else silent
