"""The command line's argument types and environment settings: each bad value is one line, status 2.

Argument types raise ``argparse.ArgumentTypeError`` (argparse prints it as one line); settings read
from the environment raise :class:`~vae_mnist.errors.ConfigError` (``cli.main`` prints it as one line).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import ConfigError


def int_in(text: str, low: int, high=None, what: str = "") -> int:
    """``text`` as an integer in [low, high] (``high=None``: no upper end), else one line naming the range."""
    what = what or (f"an integer from {low} to {high}" if high is not None
                    else {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer of at least {low}"))
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}{' (at least 1)' if low == 1 and high is None else ''}, got {value}")
    return value


def positive_int(text: str) -> int:
    return int_in(text, 1)


def non_negative_int(text: str) -> int:
    return int_in(text, 0)


def seed_number(text: str) -> int:
    from ..config import MAX_SEED

    return int_in(text, 0, MAX_SEED)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def existing_dir(text: str) -> str:
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"data folder {text!r} does not exist or is not a folder")
    return text
