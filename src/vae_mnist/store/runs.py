"""Trained runs: the store's first kind of entry (:mod:`vae_mnist.store.entries`), cached by configuration.

A run is a folder ``<cache>/<config.name()>/`` holding ``model.keras`` (Keras native format),
``config.json``, ``history.json`` and ``metrics.json`` (:mod:`vae_mnist.store.run_checks` says what makes
one usable). Through the store a run is built aside and renamed into place when complete, checked
fully before use, locked while it is created, replaced or updated (so two processes asking for the
same configuration train it once), stale when the training code changed, and moved aside (never
deleted) when damaged or stale, in one line naming the file.

For parallel work: a worker on another machine trains with ``get_run(config, root=<its own
folder>)`` and ships ``pack_run(run.path)`` (bytes); :func:`install_run_archive` (or
:func:`install_run` for a folder) puts it into the cache atomically under the lock (the first
finished copy wins). :func:`scan_runs` lists the cache.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

from . import run_checks
from ..config import RunConfig
from ..core.data import one_data_set, run_data
from .checks import Problem, read_json, write_json
from ..errors import DamagedRunError, VaeMnistError
from .run_checks import FILES, SIGNATURE_FILES, check_run, inspect_run, run_check
from .entries import CODE_HASH_KEY, LockBusy, cache_dir, ensure_root, entry_lock, install, is_set_aside, lock_path as _lock_path, move_aside, new_temporary, obtain, remove_stale_temporaries
from ..progress import reporter



def load_data_for(config: RunConfig, data_dir=None, data=None):
    """The data a run of ``config`` trains and is scored on (chapters and run pages call this).

    ``data_dir`` is the folder of this run's data set (``None``: its variable, else Keras's
    download); ``data`` the whole data set, if already loaded. Loaded once per process
    (:mod:`vae_mnist.core.data`).
    """
    return run_data(config, one_data_set(config.dataset, data_dir), data)


def code_hash() -> str:
    """A hash of :data:`CODE_MODULES`, recorded in every run's ``config.json`` (:func:`vae_mnist.store.run_checks.code_hash`)."""
    return run_checks.code_hash()


def run_path(config: RunConfig, root: Optional[Path] = None) -> Path:
    return Path(root if root is not None else cache_dir()) / config.name()


def _folder(target, root=None) -> Path:
    return run_path(target, root) if isinstance(target, RunConfig) else Path(target)


def lock_path(target, root=None) -> Path:
    """The lock file of a run: ``<cache>/.<name>.lock``, beside the run folder."""
    return _lock_path(_folder(target, root))


def run_lock(target, root=None, *, timeout: Optional[float] = None, progress=None):
    """Hold the lock of one run (a :class:`RunConfig`, or a run folder path): :func:`vae_mnist.store.entries.entry_lock`.

    Example (what parallel workers build on)::

        with run_lock(config):
            if check_run(run_path(config)) is None:
                ...  # another worker finished it meanwhile: use it
    """
    return entry_lock(_folder(target, root), timeout=timeout, progress=progress)


# --------------------------------------------------------------------------------------
# A finished run
# --------------------------------------------------------------------------------------
class Run:
    """A finished run folder: configuration, history, metrics and (lazily) the model.

    ``Run(path)`` runs the cheap :func:`check_run` and raises :class:`DamagedRunError` naming the
    first wrong file (it does not move anything; :func:`get_run` and :func:`open_run` do).
    """

    def __init__(self, path, check: bool = True, model=None):
        self.path = Path(path)
        if check:
            problem = check_run(self.path)
            if problem is not None and problem.kind == "damaged":
                raise DamagedRunError(self.path, problem.file, problem.reason)
        try:
            raw = json.loads((self.path / "config.json").read_text())
            self.config = RunConfig.from_dict(raw)
            self.history = json.loads((self.path / "history.json").read_text())
        except (OSError, ValueError, TypeError) as exc:
            raise DamagedRunError(self.path, "config.json/history.json", str(exc)) from None
        self.code_hash = raw.get(CODE_HASH_KEY)
        self._model = model

    @property
    def metrics(self) -> dict:
        metrics, problem = read_json(self.path, "metrics.json")
        if problem:
            raise DamagedRunError(self.path, problem.file, problem.reason)
        return metrics

    @property
    def model(self):
        if self._model is None:
            model, problem = run_checks.load_run_model(self.path, self.config)
            if problem:
                raise DamagedRunError(self.path, problem.file, problem.reason)
            self._model = model
        return self._model

    @property
    def stale(self) -> bool:
        return self.code_hash != code_hash()

    def update_metrics(self, **values) -> dict:
        """Add or replace entries of ``metrics.json``: read, update and write under the run's lock.

        Two processes adding different keys at the same time both land; the file is replaced
        atomically through a uniquely named temporary file.
        """
        with entry_lock(self.path):
            metrics = self.metrics
            metrics.update(values)
            write_json(self.path / "metrics.json", metrics)
        return metrics

    def __repr__(self):
        return f"Run({str(self.path)!r})"


SOFTWARE_KEYS = ("python", "tensorflow", "keras", "numpy", "platform")


def software_versions() -> dict:
    """The versions that produce a run: Python, TensorFlow, Keras, NumPy and the platform.

    Recorded in every run's ``metrics.json`` (``software``) and shown on its run page; they do not
    invalidate a run (a new TensorFlow may change the last bits of the weights, which the record
    makes visible), the lock (``requirements-lock.txt``) is what keeps them fixed.
    """
    import platform
    import sys

    import keras
    import numpy
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__,
            "platform": f"{sys.platform}-{platform.machine()}"}


# --------------------------------------------------------------------------------------
# Getting a run: cached or trained
# --------------------------------------------------------------------------------------
def get_run(config: RunConfig, data_dir=None, force: bool = False, progress=print, data=None,
            root: Optional[Path] = None, recorders: Sequence = ()) -> Run:
    """The finished run for ``config``: loaded from the cache, or trained and cached.

    ``data_dir`` is the folder of the run's data set, ``data`` the whole data set (both only needed
    to train: :func:`load_data_for`). ``recorders``, used only when the run is trained: callables
    ``recorder(config, data)`` that return a Keras callback which only reads the model, and whose
    ``save(folder, history)`` writes what it recorded into the run folder before it is installed
    (:func:`vae_mnist.measures.trajectory.record_trajectory`).

    Holds the run's lock throughout, so concurrent callers train once. A cached run is checked
    fully first; a damaged or stale one is moved aside (one line on ``progress``) and retrained.
    ``force=True`` retrains and replaces the finished run.
    """
    say = reporter(progress)
    final = ensure_root(root) / config.name()

    def build(tmp: Path):
        return _train_into(config, load_data_for(config, data_dir, data), tmp, say, recorders)

    built, model = obtain(final, run_check(config), build, force=force, say=say, what="run",
                          signature_files=SIGNATURE_FILES)
    say(f"run saved in {final}" if built else f"using cached run {final}")
    return Run(final, check=False, model=model)


def _train_into(config: RunConfig, data, tmp: Path, say, recorders: Sequence = ()):
    """Train ``config`` on ``data`` and write the run's six files into ``tmp``; return the model."""
    from ..version import __version__
    from ..core.evaluation import negative_elbo
    from ..core.training import seconds_per_epoch, train

    t0 = time.perf_counter()
    callbacks = [recorder(config, data) for recorder in recorders]
    model, history, epoch_seconds = train(config, data, progress=say, callbacks=callbacks)
    train_seconds = time.perf_counter() - t0
    test = negative_elbo(model, data.x_test, seed=config.seed)
    hashed = code_hash()
    metrics = {
        **{k: getattr(config, k) for k in ("latent_dim", "epochs", "batch_size", "seed",
                                           "learning_rate", "likelihood", "dataset")},
        "train_size": int(len(data.x_train)),
        "test_size": int(len(data.x_test)),
        "test_neg_elbo": test["neg_elbo"],
        "test_reconstruction": test["reconstruction"],
        "test_kl": test["kl"],
        "train_loss": history["loss"][-1],
        "seconds_per_epoch": seconds_per_epoch(epoch_seconds),
        "epoch_seconds": epoch_seconds,
        "train_seconds": train_seconds,
        "data_source": data.source,
        "version": __version__,
        "software": software_versions(),
        "key": config.key(),
        CODE_HASH_KEY: hashed,
    }
    model.save(tmp / "model.keras")
    # the two halves as plain functional models: any Keras opens them, without this package
    model.encoder.save(tmp / "encoder.keras")
    model.decoder.save(tmp / "decoder.keras")
    write_json(tmp / "config.json", {**config.to_dict(), CODE_HASH_KEY: hashed})
    write_json(tmp / "history.json", history)
    write_json(tmp / "metrics.json", metrics)
    for callback in callbacks:
        callback.save(tmp, history)
    return model


# --------------------------------------------------------------------------------------
# Installing a run made elsewhere (another process, a worker on another machine)
# --------------------------------------------------------------------------------------
#: The per-image files of a run folder (one per k of the bound).


def install_run(src, config: Optional[RunConfig] = None, root=None, force: bool = False, progress=None,
                move: bool = False) -> Run:
    """Put the finished run folder ``src`` into the cache as the run of ``config``, atomically.

    ``src`` must pass the full :func:`check_run` (else :class:`DamagedRunError`, nothing changes);
    ``config`` defaults to the one in ``src/config.json`` and must match it. Under the run's lock
    the run's files (:func:`run_files`) are copied (or, with ``move=True`` on the same file system, moved) into a
    temporary folder in the cache and renamed into place. If a usable finished run is already
    there it is kept and returned (the first finished copy wins) unless ``force=True``; a damaged
    or stale one is moved aside first. Returns the installed (or kept) :class:`Run`.
    """
    say = reporter(progress)
    src = Path(src)
    problem, model = inspect_run(src, full=True, expected=config)
    if problem is not None:
        raise DamagedRunError(src, problem.file, problem.reason)
    if config is None:
        config = RunConfig.from_dict(json.loads((src / "config.json").read_text()))
    final = ensure_root(root) / config.name()
    if install(src, final, run_files(src), run_check(config), force=force, move=move, say=say, what="run",
               signature_files=SIGNATURE_FILES):
        say(f"run installed in {final}")
        return Run(final, check=False, model=model)
    say(f"kept the finished run {final} (not replaced without force)")
    return Run(final, check=False)


def run_files(folder) -> List[str]:
    """What a run folder holds that travels with it: the run files (:data:`FILES`) and everything computed
    beside them (the IWAE bound's per-image values, :data:`vae_mnist.core.per_image.PER_IMAGE_FILE`; a
    trajectory recorded during training), every regular file not hidden, so nothing is lost on the way."""
    extra = sorted(p.name for p in Path(folder).iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.name not in FILES)
    return list(FILES) + extra


def pack_run(path) -> bytes:
    """A run folder (:func:`run_files`) as a gzip'd tar archive (to ship a run between machines)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in run_files(path):
            tar.add(Path(path) / f, arcname=f, recursive=False)
    return buf.getvalue()


def install_run_archive(archive: bytes, config: Optional[RunConfig] = None, root=None, force: bool = False,
                        progress=None) -> Run:
    """:func:`install_run` for an archive made by :func:`pack_run`.

    Only the run's files (:func:`run_files`: regular files, no paths) are taken from the archive; it is unpacked
    into a temporary folder in the cache and then installed like a folder.
    """
    root = ensure_root(root)
    tmp = new_temporary(root, "archive")
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
                for member in tar.getmembers():
                    if member.isfile() and "/" not in member.name and not member.name.startswith("."):
                        fh = tar.extractfile(member)
                        (tmp / member.name).write_bytes(fh.read())
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DamagedRunError("<archive>", "archive", f"not a run archive ({exc})") from None
        return install_run(tmp, config, root=root, force=force, progress=progress, move=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_run(path, say=None) -> Run:
    """A run folder checked fully before use. Damaged: moved aside if it is in the cache, and
    :class:`DamagedRunError` (one line naming the file). Stale: opened, with a note on ``say``."""
    path = Path(path)
    problem, model = inspect_run(path, full=True)
    if problem is not None and problem.kind == "damaged":
        moved = None
        try:
            in_cache = path.resolve().parent == cache_dir().resolve()
        except (OSError, VaeMnistError):
            in_cache = False
        if in_cache:
            try:
                with entry_lock(path, timeout=0):
                    if path.exists():
                        moved = move_aside(path, problem)
            except LockBusy:
                pass
        raise DamagedRunError(path, problem.file, problem.reason, moved)
    if problem is not None and say:
        say(f"note: run {path.name} is stale ({problem.reason}); `vae-mnist train` retrains it")
    return Run(path, check=False, model=model if problem is None else None)


class Entry(NamedTuple):
    """One folder of the cache as :func:`scan_runs` found it."""

    path: Path
    run: Optional[Run]          # the run, if it is usable (or stale)
    problem: Optional[Problem]  # what is wrong, if anything
    moved_to: Optional[Path]    # where a damaged run was moved aside


def scan_runs(root=None, say=None, move_damaged: bool = True) -> List[Entry]:
    """Every run folder of the cache, with the cheap check; damaged ones are moved aside.

    A run that another process holds locked is checked but not moved. Folders already set aside
    and temporary folders are skipped (stale temporaries are removed first).
    """
    root = Path(root) if root is not None else cache_dir()
    if not root.is_dir():
        return []
    remove_stale_temporaries(root, say)
    entries = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith(".") or is_set_aside(p):
            continue
        problem = check_run(p)
        if problem is None:
            named = _config_name(p)
            if named is not None and named != p.name:  # e.g. the configuration format changed
                problem = Problem("stale", "config.json", f"describes run {named}, not {p.name}")
        if problem is None or problem.kind == "stale":
            try:
                entries.append(Entry(p, Run(p, check=False), problem, None))
                continue
            except DamagedRunError as exc:  # changed under our feet
                problem = Problem("damaged", exc.file, exc.reason)
        moved = None
        if move_damaged:
            try:
                with entry_lock(p, timeout=0):
                    if p.exists() and check_run(p) == problem:
                        moved = move_aside(p, problem)
            except LockBusy:
                pass  # someone is working on it: report only
        entries.append(Entry(p, None, problem, moved))
    return entries


def _config_name(path: Path) -> Optional[str]:
    try:
        return RunConfig.from_dict(json.loads((path / "config.json").read_text())).name()
    except (OSError, ValueError, TypeError):
        return None


def list_runs(root: Optional[Path] = None):
    """Every usable finished run in the cache (damaged ones are moved aside, stale ones left out)."""
    return [e.run for e in scan_runs(root) if e.run is not None and e.problem is None]


__all__ = ["Run", "get_run", "install_run", "install_run_archive", "pack_run", "open_run", "scan_runs", "list_runs", "run_lock", "run_path", "code_hash"]
