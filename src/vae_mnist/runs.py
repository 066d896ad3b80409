"""Trained runs, cached by configuration, validated, locked and installed atomically.

A run is a folder ``<cache>/<config.name()>/`` holding ``model.keras`` (Keras native format),
``config.json``, ``history.json`` and ``metrics.json``.

* **Built aside, renamed into place.** Training writes into ``.tmp-<name>-XXXX/`` (which holds the
  owner's PID, see :mod:`vae_mnist.leftovers`) and renames it to ``<name>/`` only when complete, so
  an interrupted or failed run never looks finished. Temporary folders of killed processes are
  removed at the next start.
* **Validated.** A run counts as finished only when its four files parse and hold what the code
  reads (:func:`check_run`): cheaply (JSON, keys, the zip archive's CRCs) when listed, fully (the
  model loads) when used. A damaged run is moved aside to ``<name>.damaged-<time>`` (never deleted),
  reported in one line naming the file, and retrained when asked for.
* **Sees the code.** ``config.json`` records :func:`code_hash`, a hash of the sources that decide
  what training produces (:data:`CODE_FILES`). A run whose hash differs is *stale*: not reused, moved
  aside to ``<name>.stale-<time>`` and retrained when asked for.
* **Locked.** Everything that creates, replaces or updates a run holds :func:`run_lock` (an
  ``fcntl.flock`` on ``<cache>/.<name>.lock``), so two processes asking for the same configuration
  train it once: the second waits, then loads the finished run. ``update_metrics`` is a
  read-modify-write under the same lock. A finished run is replaced only with ``force=True``.

For parallel work: :func:`run_lock` and :func:`check_run` let a scheduler skip what is done;
a worker on another machine trains with ``get_run(config, root=<its own folder>)`` and ships
``pack_run(run.path)`` (bytes); :func:`install_run_archive` (or :func:`install_run` for a folder)
puts it into the cache atomically under the lock (the first finished copy wins).
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import math
import os
import shutil
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Union

from .config import RunConfig
from .data import data_for, load_data_for  # noqa: F401  (chapters import load_data_for from here too)
from .errors import ConfigError, DamagedRunError, VaeMnistError
from .leftovers import OWNER_FILE, remove_leftovers, write_owner

ENV_CACHE = "VAE_MNIST_CACHE_DIR"
FILES = ("model.keras", "config.json", "history.json", "metrics.json")

#: The sources whose content decides what training produces. ``model.py`` (architecture and
#: initialisation), ``losses.py`` (the objective), ``training.py`` (optimiser, shuffling, the
#: loop) and ``data.py`` (preprocessing and which images form a subset). Not included:
#: ``config.py`` (every value it decides is in the configuration, hence in the run's name),
#: ``evaluation.py`` (it does not change the weights; the run page recomputes the test ELBO beside
#: the saved one), and the modules that only read runs (figures, analysis, the book build).
CODE_FILES = ("model.py", "losses.py", "training.py", "data.py")
CODE_HASH_KEY = "code_hash"

#: What the code reads from each JSON file (a run lacking one of these is damaged).
CONFIG_KEYS = ("latent_dim", "epochs", "batch_size", "seed", "learning_rate", "hidden_dim", "likelihood", "dataset")
HISTORY_KEYS = ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")
METRICS_KEYS = ("test_neg_elbo", "test_reconstruction", "test_kl", "train_loss", "seconds_per_epoch",
                "train_seconds", "train_size", "test_size")
SET_ASIDE = ("damaged", "stale")


# --------------------------------------------------------------------------------------
# Where runs live
# --------------------------------------------------------------------------------------
def project_root() -> Optional[Path]:
    """The source checkout this package lives in (src layout), if any."""
    here = Path(__file__).resolve().parent
    root = here.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "src" / "vae_mnist").is_dir():
        return root
    return None


def cache_dir() -> Path:
    """``$VAE_MNIST_CACHE_DIR``, else ``<project>/.cache/runs`` (git-ignored), else ``~/.cache/vae-mnist/runs``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            raise VaeMnistError(f"run cache {env!r} (from {ENV_CACHE}) is not a folder")
        return path
    root = project_root()
    if root is not None:
        return root / ".cache" / "runs"
    return Path.home() / ".cache" / "vae-mnist" / "runs"


def _root(root=None) -> Path:
    path = Path(root) if root is not None else cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VaeMnistError(f"run cache {path}: cannot be created ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise VaeMnistError(f"run cache {path}: not writable")
    return path


def run_path(config: RunConfig, root: Optional[Path] = None) -> Path:
    return Path(root if root is not None else cache_dir()) / config.name()


def is_set_aside(path) -> bool:
    """A folder moved aside (``<name>.damaged-<time>``, ``<name>.stale-<time>``)."""
    name = Path(path).name
    return any(f".{kind}-" in name for kind in SET_ASIDE)


# --------------------------------------------------------------------------------------
# The code hash
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _code_hash() -> str:
    base = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update(name.encode() + b"\0" + (base / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_hash() -> str:
    """A hash of :data:`CODE_FILES` (computed once per process), recorded in every run's ``config.json``."""
    return _code_hash()


# --------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------
_held = threading.local()


def lock_path(target: Union[RunConfig, str, os.PathLike], root=None) -> Path:
    """The lock file of a run: ``<cache>/.<name>.lock``, beside the run folder."""
    folder = run_path(target, root) if isinstance(target, RunConfig) else Path(target)
    return folder.parent / f".{folder.name}.lock"


class LockBusy(VaeMnistError):
    """:func:`run_lock` with ``timeout=0`` found the lock held by someone else."""


@contextlib.contextmanager
def run_lock(target: Union[RunConfig, str, os.PathLike], root=None, *, timeout: Optional[float] = None,
             progress=None) -> Iterator[Path]:
    """Hold the exclusive lock of one run (a :class:`RunConfig`, or a run folder path) while in the block.

    Every process that creates, replaces, moves aside or updates a run holds this lock, so
    whatever the block sees of the run folder stays true until it ends. It is an ``fcntl.flock``
    on :func:`lock_path` (released by the kernel if the process dies, so a killed holder never
    blocks anyone; lock files are never deleted, which would break that) and re-entrant within a
    thread; other threads and processes wait. ``progress`` is told once when the lock is busy;
    ``timeout`` (seconds) raises :class:`VaeMnistError` instead of waiting forever, and
    ``timeout=0`` raises :class:`LockBusy` at once. Yields the lock file's path.

    Example (what parallel workers build on)::

        with run_lock(config):
            if check_run(run_path(config)) is None:
                ...  # another worker finished it meanwhile: use it
    """
    path = lock_path(target, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    held = getattr(_held, "counts", None)
    if held is None:
        held = _held.counts = {}
    if held.get(key):
        held[key] += 1
        try:
            yield path
        finally:
            held[key] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if timeout is not None and timeout <= 0:
                raise LockBusy(f"{path} is held by another process") from None
            if progress:
                progress(f"waiting for another process working on {path.name[1:-5]} (lock {path})")
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise VaeMnistError(f"timed out after {timeout:g}s waiting for the lock {path}") from None
                        time.sleep(0.1)
        held[key] = 1
        try:
            yield path
        finally:
            held.pop(key, None)
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
class Problem(NamedTuple):
    """What is wrong with a run folder: ``kind`` is ``damaged`` or ``stale``."""

    kind: str
    file: str
    reason: str


def _read_json(path: Path, file: str):
    try:
        text = (path / file).read_text()
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


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_model_archive(path: Path) -> Optional[Problem]:
    import zipfile

    file = path / "model.keras"
    try:
        with zipfile.ZipFile(file) as z:
            names = set(z.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                return Problem("damaged", "model.keras", f"archive lacks {', '.join(sorted(missing))}")
            bad = z.testzip()
            if bad is not None:
                return Problem("damaged", "model.keras", f"corrupt archive member {bad} (CRC mismatch)")
    except zipfile.BadZipFile as exc:
        return Problem("damaged", "model.keras", f"not a Keras archive (truncated or corrupt: {exc})")
    except (OSError, EOFError, RuntimeError, ValueError) as exc:
        return Problem("damaged", "model.keras", f"cannot be read ({exc})")
    return None


def _load_model(path: Path, config: RunConfig):
    """The run's model, or a Problem if it does not load (safe mode: no code from the archive runs)."""
    import keras

    from .model import VAE

    try:
        model = keras.models.load_model(path / "model.keras", safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged archive
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, Problem("damaged", "model.keras", f"does not load ({type(exc).__name__}: {first[:200]})")
    if not isinstance(model, VAE):
        return None, Problem("damaged", "model.keras", f"holds a {type(model).__name__}, not the package's VAE")
    if getattr(model, "latent_dim", config.latent_dim) != config.latent_dim:
        return None, Problem("damaged", "model.keras",
                             f"latent size {model.latent_dim}, but config.json says {config.latent_dim}")
    return model, None


def check_run(path, full: bool = False, expected: Optional[RunConfig] = None, *, _keep_model: Optional[list] = None
              ) -> Optional[Problem]:
    """``None`` if the folder ``path`` is a usable finished run, else the first :class:`Problem` found.

    The cheap check (``full=False``, used when listing): the four files exist and are not empty, the
    JSON files parse and hold the keys the code reads (:data:`CONFIG_KEYS`, :data:`HISTORY_KEYS`,
    :data:`METRICS_KEYS`) with values of the right kind, and ``model.keras`` is a complete zip
    archive whose CRCs match. The full check (``full=True``, used before a run is used) also loads
    the model. A run whose recorded :func:`code_hash` differs from the current one, or whose
    configuration is not the one its folder name (or ``expected``) says, is ``stale``.
    """
    path = Path(path)
    if not path.is_dir():
        return Problem("damaged", path.name, "not a folder")
    for f in FILES:
        p = path / f
        if not p.is_file():
            return Problem("damaged", f, "missing")
        if p.stat().st_size == 0:
            return Problem("damaged", f, "empty")
    raw, problem = _read_json(path, "config.json")
    if problem:
        return problem
    missing = [k for k in CONFIG_KEYS if k not in raw]
    if missing:
        return Problem("damaged", "config.json", f"wrong keys (missing {', '.join(missing)})")
    try:
        config = RunConfig.from_dict(raw)
    except ConfigError as exc:
        return Problem("damaged", "config.json", f"invalid configuration ({exc})")
    except TypeError as exc:
        return Problem("damaged", "config.json", f"invalid configuration ({exc})")
    history, problem = _read_json(path, "history.json")
    if problem:
        return problem
    lengths = set()
    for k in HISTORY_KEYS:
        v = history.get(k)
        if not isinstance(v, list) or not v or not all(_is_number(x) for x in v):
            what = "missing" if k not in history else "not a list of numbers"
            return Problem("damaged", "history.json", f"wrong keys ({k!r} {what})")
        lengths.add(len(v))
    if lengths != {config.epochs}:
        return Problem("damaged", "history.json",
                       f"holds {sorted(lengths)} epochs, but the configuration has {config.epochs}")
    metrics, problem = _read_json(path, "metrics.json")
    if problem:
        return problem
    for k in METRICS_KEYS:
        if not _is_number(metrics.get(k)):
            what = "missing" if k not in metrics else f"not a number ({metrics[k]!r})"
            return Problem("damaged", "metrics.json", f"wrong keys ({k!r} {what})")
    problem = _check_model_archive(path)
    if problem:
        return problem
    recorded = raw.get(CODE_HASH_KEY)
    if recorded != code_hash():
        why = "no code hash recorded" if recorded is None else f"code {recorded}, now {code_hash()}"
        return Problem("stale", "config.json", f"trained by other training code ({why})")
    want = expected.name() if expected is not None else None
    if want is not None and config.name() != want:
        return Problem("stale", "config.json", f"describes run {config.name()}, not {want}")
    if full:
        model, problem = _load_model(path, config)
        if problem:
            return problem
        if _keep_model is not None:
            _keep_model.append(model)
    return None


def _set_aside(path: Path, problem: Problem) -> Path:
    """Rename ``path`` to ``<name>.<kind>-<time>`` beside it (for stale runs, older stale copies go)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.{problem.kind}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{problem.kind}-{stamp}-{n}")
    if problem.kind == "stale":
        for old in path.parent.glob(f"{path.name}.stale-*"):
            shutil.rmtree(old, ignore_errors=True)
    os.rename(path, target)
    return target


def set_aside(path, problem: Problem, say=None) -> Path:
    """Move a damaged or stale run folder aside (under its lock) and say so in one line; return the new path."""
    path = Path(path)
    with run_lock(path):
        target = _set_aside(path, problem)
    if say:
        if problem.kind == "damaged":
            say(f"run {path.name} is damaged ({problem.file}: {problem.reason}); moved aside to {target.name}")
        else:
            say(f"run {path.name} is stale ({problem.reason}); moved aside to {target.name}")
    return target


# --------------------------------------------------------------------------------------
# A finished run
# --------------------------------------------------------------------------------------
def _write_json(path: Path, obj) -> None:
    """Write ``obj`` to ``path`` atomically, through a uniquely named temporary file beside it."""
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


class Run:
    """A finished run folder: configuration, history, metrics and (lazily) the model.

    ``Run(path)`` runs the cheap :func:`check_run` and raises :class:`DamagedRunError` naming the
    first wrong file (it does not move anything; :func:`get_run` and :func:`open_run` do).
    """

    def __init__(self, path, check: bool = True):
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
        self._model = None

    @property
    def metrics(self) -> dict:
        metrics, problem = _read_json(self.path, "metrics.json")
        if problem:
            raise DamagedRunError(self.path, problem.file, problem.reason)
        return metrics

    @property
    def model(self):
        if self._model is None:
            model, problem = _load_model(self.path, self.config)
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
        with run_lock(self.path):
            metrics = self.metrics
            metrics.update(values)
            _write_json(self.path / "metrics.json", metrics)
        return metrics

    def __repr__(self):
        return f"Run({str(self.path)!r})"


def is_finished(path: Path) -> bool:
    """Whether ``path`` passes the cheap :func:`check_run` (a stale run counts as finished here)."""
    problem = check_run(path)
    return problem is None or problem.kind == "stale"


# --------------------------------------------------------------------------------------
# Getting a run: cached or trained
# --------------------------------------------------------------------------------------
_cleaned = set()


def remove_stale_temporaries(root=None, say=None, once: bool = True) -> list:
    """Remove ``.tmp-*`` run folders left by killed processes (see :mod:`vae_mnist.leftovers`).

    Called at the start of :func:`get_run`, :func:`install_run` and :func:`scan_runs` (once per
    process and cache unless ``once=False``).
    """
    root = Path(root) if root is not None else cache_dir()
    key = str(root)
    if once and key in _cleaned:
        return []
    _cleaned.add(key)
    return remove_leftovers(root, ".tmp-*", say)


#: Run folders this process checked fully, with the identity of the files the full check read
#: (the model archive, config.json, history.json): unchanged files need only the cheap check again.
_verified = {}


def _signature(path: Path):
    try:
        return tuple((f, st.st_ino, st.st_size, st.st_mtime_ns)
                     for f in ("model.keras", "config.json", "history.json")
                     for st in [os.stat(path / f)])
    except OSError:
        return None


def _usable(final: Path, config: RunConfig, say) -> Optional[Run]:
    """The finished run at ``final`` after the full check, or ``None`` (moved aside if damaged or stale).

    Within one process a run whose model and JSON files are the very files that passed the full
    check before (same inode, size and modification time) gets the cheap check only.
    """
    if not final.exists():
        return None
    kept = []
    key = os.path.realpath(final)
    sig = _signature(final)
    if sig is not None and _verified.get(key) == sig:
        problem = check_run(final, expected=config)
    else:
        problem = check_run(final, full=True, expected=config, _keep_model=kept)
        if problem is None and sig is not None:
            _verified[key] = sig
    if problem is None:
        run = Run(final, check=False)
        run._model = kept[0] if kept else None
        return run
    set_aside(final, problem, say or print)
    return None


def get_run(config: RunConfig, data_dir=None, force: bool = False, progress=print, data=None,
            root: Optional[Path] = None) -> Run:
    """The finished run for ``config``: loaded from the cache, or trained and cached.

    Holds the run's lock throughout, so concurrent callers train once. A cached run is checked
    fully first; a damaged or stale one is moved aside (one line on ``progress``) and retrained.
    ``force=True`` retrains and replaces the finished run.
    """
    say = progress or (lambda s: None)
    root = _root(root)
    final = root / config.name()
    remove_stale_temporaries(root, say)
    with run_lock(final, progress=say):
        if not force:
            run = _usable(final, config, say)
            if run is not None:
                say(f"using cached run {final}")
                return run
        if data is None:
            data = load_data_for(config, data_dir)
        else:
            data = data_for(config, data)
        return _train_into(config, data, final, say)


def _new_temporary(root: Path, name: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    write_owner(tmp)
    return tmp


def _replace(tmp: Path, final: Path) -> None:
    """Rename the complete folder ``tmp`` to ``final`` (the caller holds the lock); an old ``final`` goes."""
    (tmp / OWNER_FILE).unlink(missing_ok=True)
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-old-", dir=final.parent))
        write_owner(trash)
        os.replace(final, trash / "run")
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _train_into(config: RunConfig, data, final: Path, say) -> Run:
    from . import __version__
    from .evaluation import negative_elbo
    from .stamps import software_versions
    from .training import seconds_per_epoch, train

    tmp = _new_temporary(final.parent, final.name)
    try:
        t0 = time.perf_counter()
        model, history, epoch_seconds = train(config, data, progress=say)
        train_seconds = time.perf_counter() - t0
        test = negative_elbo(model, data.x_test, seed=config.seed)
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
            CODE_HASH_KEY: code_hash(),
        }
        model.save(tmp / "model.keras")
        _write_json(tmp / "config.json", {**config.to_dict(), CODE_HASH_KEY: code_hash()})
        _write_json(tmp / "history.json", history)
        _write_json(tmp / "metrics.json", metrics)
        _replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"run saved in {final}")
    run = Run(final, check=False)
    run._model = model
    return run


# --------------------------------------------------------------------------------------
# Installing a run made elsewhere (another process, a worker on another machine)
# --------------------------------------------------------------------------------------
def install_run(src, config: Optional[RunConfig] = None, root=None, force: bool = False, progress=None,
                move: bool = False) -> Run:
    """Put the finished run folder ``src`` into the cache as the run of ``config``, atomically.

    ``src`` must pass the full :func:`check_run` (else :class:`DamagedRunError`, nothing changes);
    ``config`` defaults to the one in ``src/config.json`` and must match it. Under the run's lock
    the four files are copied (or, with ``move=True`` on the same file system, moved) into a
    temporary folder in the cache and renamed into place. If a usable finished run is already
    there it is kept and returned (the first finished copy wins) unless ``force=True``; a damaged
    or stale one is moved aside first. Returns the installed (or kept) :class:`Run`.
    """
    say = progress or (lambda s: None)
    src = Path(src)
    kept = []
    problem = check_run(src, full=True, expected=config, _keep_model=kept)
    if problem is not None:
        raise DamagedRunError(src, problem.file, problem.reason)
    if config is None:
        config = RunConfig.from_dict(json.loads((src / "config.json").read_text()))
    root = _root(root)
    final = root / config.name()
    remove_stale_temporaries(root, say)
    with run_lock(final, progress=say):
        if not force:
            existing = _usable(final, config, say)
            if existing is not None:
                say(f"kept the finished run {final} (not replaced without force)")
                return existing
        tmp = _new_temporary(root, final.name)
        try:
            for f in FILES:
                if move:
                    try:
                        os.replace(src / f, tmp / f)
                        continue
                    except OSError:
                        pass
                shutil.copy2(src / f, tmp / f)
            _replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    say(f"run installed in {final}")
    run = Run(final, check=False)
    run._model = kept[0] if kept else None
    return run


def pack_run(path) -> bytes:
    """The four files of a run folder as a gzip'd tar archive (to ship a run between machines)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in FILES:
            tar.add(Path(path) / f, arcname=f, recursive=False)
    return buf.getvalue()


def install_run_archive(archive: bytes, config: Optional[RunConfig] = None, root=None, force: bool = False,
                        progress=None) -> Run:
    """:func:`install_run` for an archive made by :func:`pack_run`.

    Only the four run files are taken from the archive (regular files, no paths); it is unpacked
    into a temporary folder in the cache and then installed like a folder.
    """
    root = _root(root)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-archive-", dir=root))
    write_owner(tmp)
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
                for member in tar.getmembers():
                    if member.name in FILES and member.isfile():
                        fh = tar.extractfile(member)
                        (tmp / member.name).write_bytes(fh.read())
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DamagedRunError("<archive>", "archive", f"not a run archive ({exc})") from None
        return install_run(tmp, config, root=root, force=force, progress=progress, move=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------
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
                with run_lock(p, timeout=0):
                    if p.exists() and check_run(p) == problem:
                        moved = _set_aside(p, problem)
            except LockBusy:
                pass  # someone is working on it: report only
        entries.append(Entry(p, None, problem, moved))
    return entries


def _config_name(path: Path) -> Optional[str]:
    try:
        return RunConfig.from_dict(json.loads((path / "config.json").read_text())).name()
    except (OSError, ValueError, TypeError):
        return None


def list_runs(root: Optional[Path] = None) -> List[Run]:
    """Every usable finished run in the cache (damaged ones are moved aside, stale ones left out)."""
    return [e.run for e in scan_runs(root) if e.run is not None and e.problem is None]


def open_run(path, say=None) -> Run:
    """A run folder checked fully before use. Damaged: moved aside if it is in the cache, and
    :class:`DamagedRunError` (one line naming the file). Stale: opened, with a note on ``say``."""
    path = Path(path)
    kept = []
    problem = check_run(path, full=True, _keep_model=kept)
    if problem is not None and problem.kind == "damaged":
        moved = None
        try:
            in_cache = path.resolve().parent == cache_dir().resolve()
        except (OSError, VaeMnistError):
            in_cache = False
        if in_cache:
            try:
                with run_lock(path, timeout=0):
                    if path.exists():
                        moved = _set_aside(path, problem)
            except LockBusy:
                pass
        raise DamagedRunError(path, problem.file, problem.reason, moved)
    if problem is not None and say:
        say(f"note: run {path.name} is stale ({problem.reason}); `vae-mnist train` retrains it")
    run = Run(path, check=False)
    if problem is None and kept:
        run._model = kept[0]
    return run
