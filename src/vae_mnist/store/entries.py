"""One store for everything the build trains or computes once and reuses: runs and classifiers.

An *entry* is a folder in the cache (a run: ``<cache>/<name>/``; a classifier:
``<cache>/.classifiers/<name>/``). Every kind of entry goes through the same mechanism:

* **Built aside, installed atomically.** An entry is written into ``.tmp-<name>-XXXX/`` beside its
  final place (owned by the writing process, :mod:`vae_mnist.store.temporaries`) and renamed into place
  only when complete (:func:`install_folder`), so an interrupted or failed build never looks
  finished. Temporaries of killed processes are removed at the next start.
* **Validated before use.** Each kind has a check that returns ``None`` or the first
  :class:`Problem` (a file and a reason): cheap when listing, full (the model loads) before use.
* **Sees the code.** Each kind records :func:`code_hash` of the sources that decide what it holds;
  an entry whose recorded hash differs is *stale*.
* **Locked per entry.** Everything that creates, replaces, moves aside or updates an entry holds
  :func:`entry_lock` (an ``fcntl.flock`` on ``.<name>.lock`` beside it), so two processes asking
  for one entry build it once: the second waits, then loads the finished entry.
* **Damaged or stale entries are moved aside and named** (``<name>.damaged-<time>``,
  ``<name>.stale-<time>``), never deleted, in one line on the progress stream.

:func:`obtain` is the whole life of an entry (usable? else build aside and install);
:func:`install` puts an entry built elsewhere into place. :mod:`vae_mnist.store.runs` and
:mod:`vae_mnist.measures.classifier` are its two kinds.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Tuple

from .checks import Problem
from .. import settings
from ..errors import VaeMnistError
from .temporaries import OWNER_FILE, new_temporary_folder, remove_leftovers

ENV_CACHE = settings.CACHE_DIR
CODE_HASH_KEY = "code_hash"
SET_ASIDE = ("damaged", "stale")


# --------------------------------------------------------------------------------------
# Where entries live
# --------------------------------------------------------------------------------------
def project_root() -> Optional[Path]:
    """The source checkout this package lives in (src layout), if any."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "src" / "vae_mnist").is_dir():
        return root
    return None


def cache_dir() -> Path:
    """``$VAE_MNIST_CACHE_DIR``, else ``<project>/.cache/runs`` (git-ignored), else ``~/.cache/vae-mnist/runs``."""
    env = settings.text(ENV_CACHE)
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            raise VaeMnistError(f"run cache {env!r} (from {ENV_CACHE}) is not a folder")
        return path
    root = project_root()
    if root is not None:
        return root / ".cache" / "runs"
    return Path.home() / ".cache" / "vae-mnist" / "runs"


def ensure_root(root=None) -> Path:
    """The cache folder ``root`` (default :func:`cache_dir`), created; one line if it cannot be written."""
    path = Path(root) if root is not None else cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VaeMnistError(f"run cache {path}: cannot be created ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise VaeMnistError(f"run cache {path}: not writable")
    return path


# --------------------------------------------------------------------------------------
# The code hash of a kind
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def code_hash(modules: Tuple[str, ...]) -> str:
    """A hash of the sources of ``modules`` (dotted names such as ``"vae_mnist.core.model"``), keyed by
    name: moving a file alone changes nothing, renaming a module or changing its source does."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise VaeMnistError(f"code hash: module {name} not found")
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# The lock of an entry
# --------------------------------------------------------------------------------------
_held = threading.local()


def lock_path(folder) -> Path:
    """The lock file of the entry ``folder``: ``.<name>.lock`` beside it."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


class LockBusy(VaeMnistError):
    """:func:`entry_lock` with ``timeout=0`` found the lock held by someone else."""


@contextlib.contextmanager
def entry_lock(folder, *, timeout: Optional[float] = None, progress=None) -> Iterator[Path]:
    """Hold the exclusive lock of the entry ``folder`` while in the block.

    An ``fcntl.flock`` on :func:`lock_path` (released by the kernel if the process dies, so a
    killed holder never blocks anyone; lock files are never deleted, which would break that),
    re-entrant within a thread; other threads and processes wait. ``progress`` is told once when
    the lock is busy; ``timeout`` (seconds) raises :class:`VaeMnistError` instead of waiting
    forever, and ``timeout=0`` raises :class:`LockBusy` at once. Yields the lock file's path.
    """
    path = lock_path(folder)
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
# Moving entries aside, installing them
# --------------------------------------------------------------------------------------
def is_set_aside(path) -> bool:
    """A folder moved aside (``<name>.damaged-<time>``, ``<name>.stale-<time>``)."""
    name = Path(path).name
    return any(f".{kind}-" in name for kind in SET_ASIDE)


def move_aside(path: Path, problem: Problem) -> Path:
    """Rename ``path`` to ``<name>.<kind>-<time>`` beside it (the caller holds the lock; for stale
    entries, older stale copies go)."""
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


def set_aside(path, problem: Problem, say=None, what: str = "run") -> Path:
    """Move a damaged or stale entry aside (under its lock) and say so in one line; return the new path."""
    path = Path(path)
    with entry_lock(path):
        target = move_aside(path, problem)
    if say:
        if problem.kind == "damaged":
            say(f"{what} {path.name} is damaged ({problem.file}: {problem.reason}); moved aside to {target.name}")
        else:
            say(f"{what} {path.name} is stale ({problem.reason}); moved aside to {target.name}")
    return target


_cleaned = set()


def remove_stale_temporaries(root, say=None, once: bool = True) -> list:
    """Remove the ``.tmp-*`` folders of ``root`` left by killed processes (once per process and folder
    unless ``once=False``)."""
    key = str(root)
    if once and key in _cleaned:
        return []
    _cleaned.add(key)
    return remove_leftovers(root, ".tmp-*", say)


def new_temporary(root: Path, name: str) -> Path:
    """A temporary folder for the entry ``name`` in ``root``, owned by this process."""
    return new_temporary_folder(root, name)


def install_folder(tmp: Path, final: Path) -> None:
    """Rename the complete folder ``tmp`` to ``final`` (the caller holds the lock); an old ``final`` goes."""
    (tmp / OWNER_FILE).unlink(missing_ok=True)
    if final.exists():
        trash = new_temporary_folder(final.parent, f"{final.name}-old")
        os.replace(final, trash / "entry")
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


# --------------------------------------------------------------------------------------
# The life of an entry
# --------------------------------------------------------------------------------------
#: A kind's check: ``check(folder, full) -> (problem or None, what the full check loaded or None)``.
Check = Callable[[Path, bool], Tuple[Optional[Problem], object]]

#: Entry folders this process checked fully, with the identity (inode, size, mtime) of the files the
#: full check read: unchanged files need only the cheap check again.
_verified = {}


def _signature(folder: Path, files: Sequence[str]):
    try:
        return tuple((f, st.st_ino, st.st_size, st.st_mtime_ns) for f in files for st in [os.stat(folder / f)])
    except OSError:
        return None


def usable(final: Path, check: Check, say=None, what: str = "run", signature_files: Sequence[str] = ()):
    """``(True, loaded)`` when the entry at ``final`` passes the full check, else ``(False, None)``
    (a damaged or stale entry is moved aside, one line on ``say``). The caller holds the lock.

    Within one process an entry whose ``signature_files`` are the very files that passed the full
    check before gets the cheap check only.
    """
    if not final.exists():
        return False, None
    key = os.path.realpath(final)
    sig = _signature(final, signature_files) if signature_files else None
    if sig is not None and _verified.get(key) == sig:
        problem, loaded = check(final, False)
    else:
        problem, loaded = check(final, True)
        if problem is None and sig is not None:
            _verified[key] = sig
    if problem is None:
        return True, loaded
    set_aside(final, problem, say or print, what)
    return False, None


def obtain(final: Path, check: Check, build: Callable[[Path], object], *, force: bool = False, say=None,
           what: str = "run", signature_files: Sequence[str] = ()) -> Tuple[bool, object]:
    """The entry at ``final``: the finished one if it is usable, else built and installed.

    Holds the entry's lock throughout, so concurrent callers build once. Without ``force`` a
    finished entry is checked fully; damaged or stale, it is moved aside and rebuilt. ``build(tmp)``
    writes the entry's files into the temporary folder ``tmp`` and returns what it wants kept (the
    model); it is then renamed into place. Returns ``(built, kept)``: ``kept`` is what the check or
    ``build`` loaded.
    """
    root = ensure_root(final.parent)
    remove_stale_temporaries(root, say)
    with entry_lock(final, progress=say):
        if not force:
            ok, loaded = usable(final, check, say, what, signature_files)
            if ok:
                return False, loaded
        tmp = new_temporary(root, final.name)
        try:
            kept = build(tmp)
            install_folder(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return True, kept


def install(src: Path, final: Path, files: Sequence[str], check: Check, *, force: bool = False, move: bool = False,
            say=None, what: str = "run", signature_files: Sequence[str] = ()) -> bool:
    """Put the finished entry folder ``src`` (already checked) at ``final``, atomically, under the lock.

    The ``files`` are copied (or, with ``move=True`` on one file system, moved) into a temporary
    folder beside ``final`` and renamed into place. A usable finished entry already there is kept
    (the first finished copy wins) unless ``force``; a damaged or stale one is moved aside first.
    Returns whether ``src`` was installed.
    """
    root = ensure_root(final.parent)
    remove_stale_temporaries(root, say)
    with entry_lock(final, progress=say):
        if not force and usable(final, check, say, what, signature_files)[0]:
            return False
        tmp = new_temporary(root, final.name)
        try:
            for f in files:
                if move:
                    try:
                        os.replace(src / f, tmp / f)
                        continue
                    except OSError:
                        pass
                shutil.copy2(src / f, tmp / f)
            install_folder(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return True
