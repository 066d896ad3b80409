"""Table helpers for chapters: Markdown tables, means with spreads, number formatting."""
from __future__ import annotations

import math

def markdown_table(headers, rows) -> str:
    """A Markdown (MyST) table: chapters display it with ``IPython.display.Markdown``."""
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_sd(values) -> tuple:
    """Mean and sample standard deviation (``nan`` for one value)."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    return mean, sd


def format_mean_sd(values, digits: int = 2) -> str:
    """``"m"`` for one value, ``"m ± sd"`` for several."""
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_spread(mean, sd, digits: int = 2) -> str:
    """``"m"`` (one seed), ``"m ± sd"`` (several) or an em dash (not computed)."""
    if mean is None:
        return "—"
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell; an em dash when it was not computed."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def software_sentence(software) -> str:
    """"Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1 and NumPy 2.4.6 on linux-x86_64" from a run's record."""
    if not software:
        return "versions not recorded (a run trained before the package recorded them)"
    return (f"Python {software['python']}, TensorFlow {software['tensorflow']}, Keras {software['keras']} "
            f"and NumPy {software['numpy']} on {software['platform']}")


def software_table(runs) -> str:
    """One row per set of versions that trained some of ``runs`` (Markdown), with how many runs each made."""
    groups: dict = {}
    for run in runs:
        sw = run.metrics.get("software") or {}
        key = tuple(sw.get(k, "not recorded") for k in ("python", "tensorflow", "keras", "numpy", "platform"))
        groups.setdefault(key, []).append(run)
    rows = [[*key, len(group)] for key, group in groups.items()]
    return markdown_table(["Python", "TensorFlow", "Keras", "NumPy", "platform", "runs"], rows)
