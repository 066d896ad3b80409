"""What makes a run folder a usable finished run: :func:`check_run` (the run kind's check in the store).

A run is a folder holding ``model.keras`` (Keras native format), ``config.json``, ``history.json``
and ``metrics.json``. ``config.json`` records :func:`code_hash`, a hash of the sources that decide
what training produces (:data:`CODE_MODULES`); a run whose hash differs is *stale*.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..config import RunConfig
from .checks import Problem, check_code_hash, check_files, check_keras_archive, is_number, load_keras_archive, read_json
from ..errors import ConfigError
from .entries import CODE_HASH_KEY, code_hash as _hash_of

#: ``encoder.keras`` and ``decoder.keras`` are the VAE's two halves as plain functional Keras models
#: (standard layers only): ``keras.models.load_model`` opens them in any program.
KERAS_FILES = ("model.keras", "encoder.keras", "decoder.keras")
FILES = KERAS_FILES + ("config.json", "history.json", "metrics.json")

#: The sources whose content decides what training produces. ``model.py`` (architecture and
#: initialisation), ``losses.py`` (the objective), ``training.py`` (optimiser, shuffling, the
#: loop) and ``data.py`` (preprocessing and which images form a subset). Not included:
#: ``config.py`` (every value it decides is in the configuration, hence in the run's name),
#: ``evaluation.py`` (it does not change the weights; the run page recomputes the test ELBO beside
#: the saved one), and the modules that only read runs (figures, beyond_tables, the book build).
CODE_MODULES = tuple(f"vae_mnist.core.{m}" for m in ("model", "losses", "training", "data"))

#: What the code reads from each JSON file (a run lacking one of these is damaged).
CONFIG_KEYS = ("latent_dim", "epochs", "batch_size", "seed", "learning_rate", "hidden_dim", "likelihood", "dataset")
HISTORY_KEYS = ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")
METRICS_KEYS = ("test_neg_elbo", "test_reconstruction", "test_kl", "train_loss", "seconds_per_epoch",
                "train_seconds", "train_size", "test_size")
#: The files whose identity the store remembers after a full check (metrics.json changes freely).
SIGNATURE_FILES = ("model.keras", "config.json", "history.json")


def code_hash() -> str:
    """A hash of :data:`CODE_MODULES` (computed once per process), recorded in every run's ``config.json``."""
    return _hash_of(CODE_MODULES)


def load_run_model(path: Path, config: RunConfig):
    """The run's model, or a Problem if it does not load (safe mode: no code from the archive runs)."""
    from ..core.model import VAE

    model, problem = load_keras_archive(path, "model.keras")
    if problem:
        return None, problem
    if not isinstance(model, VAE):
        return None, Problem("damaged", "model.keras", f"holds a {type(model).__name__}, not the package's VAE")
    if getattr(model, "latent_dim", config.latent_dim) != config.latent_dim:
        return None, Problem("damaged", "model.keras",
                             f"latent size {model.latent_dim}, but config.json says {config.latent_dim}")
    return model, None


def check_run(path, full: bool = False, expected: Optional[RunConfig] = None) -> Optional[Problem]:
    """``None`` if the folder ``path`` is a usable finished run, else the first :class:`Problem` found.

    The cheap check (``full=False``, used when listing): the six files exist and are not empty, the
    JSON files parse and hold the keys the code reads (:data:`CONFIG_KEYS`, :data:`HISTORY_KEYS`,
    :data:`METRICS_KEYS`) with values of the right kind, and the three Keras files are complete zip
    archive whose CRCs match. The full check (``full=True``, used before a run is used) also loads
    the model. A run whose recorded :func:`code_hash` differs from the current one, or whose
    configuration is not the one its folder name (or ``expected``) says, is ``stale``.
    """
    path = Path(path)
    problem = check_files(path, FILES)
    if problem:
        return problem
    raw, problem = read_json(path, "config.json")
    if problem:
        return problem
    missing = [k for k in CONFIG_KEYS if k not in raw]
    if missing:
        return Problem("damaged", "config.json", f"wrong keys (missing {', '.join(missing)})")
    try:
        config = RunConfig.from_dict(raw)
    except (ConfigError, TypeError) as exc:
        return Problem("damaged", "config.json", f"invalid configuration ({exc})")
    history, problem = read_json(path, "history.json")
    if problem:
        return problem
    lengths = set()
    for k in HISTORY_KEYS:
        v = history.get(k)
        if not isinstance(v, list) or not v or not all(is_number(x) for x in v):
            what = "missing" if k not in history else "not a list of numbers"
            return Problem("damaged", "history.json", f"wrong keys ({k!r} {what})")
        lengths.add(len(v))
    if lengths != {config.epochs}:
        return Problem("damaged", "history.json",
                       f"holds {sorted(lengths)} epochs, but the configuration has {config.epochs}")
    metrics, problem = read_json(path, "metrics.json")
    if problem:
        return problem
    for k in METRICS_KEYS:
        if not is_number(metrics.get(k)):
            what = "missing" if k not in metrics else f"not a number ({metrics[k]!r})"
            return Problem("damaged", "metrics.json", f"wrong keys ({k!r} {what})")
    for file in KERAS_FILES:
        problem = check_keras_archive(path, file)
        if problem:
            return problem
    problem = check_code_hash(raw.get(CODE_HASH_KEY), code_hash(), "config.json", "trained by other training code")
    if problem:
        return problem
    want = expected.name() if expected is not None else None
    if want is not None and config.name() != want:
        return Problem("stale", "config.json", f"describes run {config.name()}, not {want}")
    if full:
        return load_run_model(path, config)[1]
    return None


def inspect_run(path, full: bool = False, expected: Optional[RunConfig] = None):
    """``(problem, model)``: :func:`check_run`'s answer and, after a full check that found nothing, the
    model it loaded (the store's check signature: ``(folder, full) -> (problem, loaded)``)."""
    problem = check_run(path, full=False, expected=expected)
    if problem is not None or not full:
        return problem, None
    model, problem = load_run_model(Path(path), RunConfig.from_dict(read_json(Path(path), "config.json")[0]))
    return problem, model


def run_check(expected: Optional[RunConfig] = None):
    """The store's check of a run that should be ``expected``: ``(folder, full) -> (problem, model or None)``."""
    return lambda path, full: inspect_run(path, full, expected)


def is_finished(path: Path) -> bool:
    """Whether ``path`` passes the cheap :func:`check_run` (a stale run counts as finished here)."""
    problem = check_run(path)
    return problem is None or problem.kind == "stale"
