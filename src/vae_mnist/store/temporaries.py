"""Temporary files and folders: made with an owner, removed once that owner is gone.

Work in progress is written to a temporary name and renamed into place when complete
(:mod:`vae_mnist.store.entries`). A process killed with SIGKILL (or a power cut) leaves the temporary
behind. The next start removes it, but only when the process that could own it is gone: a
temporary *folder* carries an owner file (``.owner``: PID, host, and the start time of that
process); a temporary *file* carries the PID in its name (``.<stem>.tmp-<pid>.ipynb``). A PID that
is alive but belongs to a process started after the leftover was written is a re-used PID, so the
owner is gone as well. Leftovers of another host (a shared network cache) are never touched;
leftovers without owner information are removed only when they have not been written to for
:data:`UNOWNED_MAX_AGE` seconds.

Process liveness and start times come from ``psutil`` (Linux, macOS, Windows alike; reading
``/proc`` by hand worked on Linux only). ``psutil`` is installed with ``distributed`` anyway.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Optional

import psutil

OWNER_FILE = ".owner"
UNOWNED_MAX_AGE = 3600.0
_PID_IN_NAME = re.compile(r"\.tmp-(\d+)(?:\.[A-Za-z0-9]+)?$")


def process_start_time(pid: int) -> Optional[float]:
    """When process ``pid`` started (seconds since the epoch); ``None`` if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:  # alive, owned by another user
        return True
    except (psutil.Error, OSError, ValueError):
        return False


def owner_record() -> dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "started": process_start_time(pid)}


def write_owner(folder) -> None:
    """Mark ``folder`` (a temporary folder just created) as owned by this process."""
    (Path(folder) / OWNER_FILE).write_text(json.dumps(owner_record()) + "\n")


def new_temporary_folder(parent, name: str) -> Path:
    """A new folder ``<parent>/.tmp-<name>-XXXX/`` owned by this process (see :func:`write_owner`)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    write_owner(tmp)
    return tmp


def owner_gone(pid: int, host: Optional[str] = None, started: Optional[float] = None,
               written: Optional[float] = None) -> bool:
    """True when the process that wrote a leftover no longer exists.

    ``started`` is the owner's recorded start time; ``written`` the leftover's last write (either
    tells a re-used PID apart from the owner). On another host nothing can be known: not gone.
    """
    if host is not None and host != socket.gethostname():
        return False
    if not pid_alive(pid):
        return True
    now_started = process_start_time(pid)
    if now_started is None:
        return False
    if started is not None and abs(now_started - started) > 1.0:
        return True  # the PID now belongs to another process
    if written is not None and now_started > written + 1.0:
        return True  # that process started after the leftover was last written: not its owner
    return False


def is_leftover(path) -> bool:
    """Whether ``path`` (a temporary folder or file) was left behind by a process that is gone."""
    path = Path(path)
    try:
        written = path.stat().st_mtime
    except OSError:
        return False
    if path.is_dir():
        try:
            rec = json.loads((path / OWNER_FILE).read_text())
            return owner_gone(int(rec["pid"]), rec.get("host"), rec.get("started"), None)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no (readable) owner file: judged by age below
    else:
        m = _PID_IN_NAME.search(path.name)
        if m:
            return owner_gone(int(m.group(1)), None, None, written)
    return time.time() - written > UNOWNED_MAX_AGE


def remove_leftovers(folder, pattern: str, say=None) -> list:
    """Remove the entries of ``folder`` matching ``pattern`` (a glob) that :func:`is_leftover`; return them."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.glob(pattern)):
        if not is_leftover(path):
            continue
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
        if say:
            say(f"removed {path.name}, left behind in {folder} by an interrupted process")
    return removed
