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


class Tally:
    """Counts finished items out of ``total`` and says one ``[done/total] name: what`` line for each."""

    def __init__(self, total: int, done: int = 0, progress: Progress = print):
        self.total, self.done, self.say = total, done, reporter(progress)

    def starting(self, name: str, what: str) -> None:
        """``[next/total] name: what`` for an item that starts now (not counted)."""
        self.say(f"[{self.done + 1}/{self.total}] {name}: {what}")

    def finished(self, name: str, what: str) -> None:
        """Count one more finished item and say so."""
        self.done += 1
        self.say(f"[{self.done}/{self.total}] {name}: {what}")
