"""The book's trained models as one archive: ``vae-mnist export`` writes it, ``vae-mnist import`` reads it.

The archive (a gzip'd tar) holds every store entry the book uses: the run folders of
:func:`vae_mnist.profiles.book_runs` (model, configuration with its code hash, history, metrics with the
software versions, per-image IWAE values), the classifiers and the recorded latent trajectories, and a
manifest, ``MANIFEST.json``, with the SHA-256 of every file. Importing it into a run cache (empty or
not) checks every file against the manifest before anything is installed, then renames each entry into
place under its lock; entries already there are kept unless ``force``. A book built on the imported
cache trains nothing.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional

from ..errors import VaeMnistError
from ..progress import reporter

ARCHIVE_FILE = "models.tar.gz"
MANIFEST = "MANIFEST.json"
FORMAT = 1
STORE_SUBDIRS = (".classifiers", ".trajectories")   # the store's other kinds (vae_mnist.measures.classifier, .trajectory)


class ArchiveError(VaeMnistError):
    """An archive that is not one of the book's, or whose files do not match their manifest."""


def _entry_files(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _finished(folder: Path) -> bool:
    """An entry folder: not a lock, a temporary or a folder moved aside (:func:`vae_mnist.store.entries.is_set_aside`)."""
    from .entries import is_set_aside

    return folder.is_dir() and not folder.name.startswith(".") and ".tmp-" not in folder.name and not is_set_aside(folder)


def book_entries(profile: str, seeds: int, root: Optional[Path] = None) -> List[Path]:
    """The store entries the book uses: its runs (which must all be there) and every finished classifier
    and trajectory entry of the cache."""
    from ..profiles import book_runs
    from .entries import cache_dir

    root = Path(root or cache_dir())
    entries = []
    for config in book_runs(profile, seeds):
        folder = root / config.name()
        if not folder.is_dir():
            raise ArchiveError(f"the run cache {root} lacks the book's run {config.name()}: build the book first")
        entries.append(folder)
    for sub in STORE_SUBDIRS:
        if (root / sub).is_dir():
            entries += [p for p in sorted((root / sub).iterdir()) if _finished(p)]
    return entries


def export_archive(output, profile: str = "full", seeds: int = 1, root=None, progress=print) -> Path:
    """Write the archive of the book's store entries to ``output`` (atomically); its path."""
    from ..version import source_hash
    from .runs import Run
    from .entries import cache_dir

    say = reporter(progress)
    root = Path(root or cache_dir())
    output = Path(output)
    entries = book_entries(profile, seeds, root)
    manifest: Dict = {"format": FORMAT, "profile": profile, "seeds": seeds, "package": source_hash(),
                      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      "entries": {}, "runs": {}}
    for folder in entries:
        rel = folder.relative_to(root).as_posix()
        manifest["entries"][rel] = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in _entry_files(folder)}
        if folder.parent == root:
            run = Run(folder)
            manifest["runs"][rel] = {"config": run.config.to_dict(), "code_hash": run.code_hash,
                                     "software": run.metrics.get("software", {})}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + f".tmp-{os.getpid()}")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for rel, files in manifest["entries"].items():
                for f in files:
                    tar.add(root / rel / f, arcname=f"{rel}/{f}", recursive=False)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    size = output.stat().st_size / 1e6
    say(f"exported {len(manifest['runs'])} runs and {len(entries) - len(manifest['runs'])} other store entries "
        f"to {output} ({size:.1f} MB)")
    return output


def _safe(rel: str) -> bool:
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and len(p.parts) <= 2 \
        and (len(p.parts) == 1 or p.parts[0] in STORE_SUBDIRS)


def read_manifest(tar: tarfile.TarFile, source) -> dict:
    try:
        member = tar.getmember(MANIFEST)
        manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, AttributeError, ValueError) as exc:
        raise ArchiveError(f"{source} is not an archive of the book's models (no readable {MANIFEST}: {exc})")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("entries"), dict):
        raise ArchiveError(f"{source} is not an archive of the book's models of format {FORMAT}")
    bad = [rel for rel in manifest["entries"] if not _safe(rel)]
    if bad:
        raise ArchiveError(f"{source} names entries outside a run cache ({bad[0]!r}): not imported")
    return manifest


def import_archive(source, root=None, force: bool = False, progress=print) -> dict:
    """Install the entries of the archive ``source`` into the run cache; ``{"installed": n, "kept": n}``.

    Every file is checked against the manifest before anything is installed (a damaged archive changes
    nothing); each entry is then renamed into place under its lock.
    """
    from .entries import cache_dir, entry_lock, ensure_root, install_folder, new_temporary

    say = reporter(progress)
    root = ensure_root(root or cache_dir())
    staged: Dict[str, Path] = {}
    try:
        try:
            with tarfile.open(source, "r:*") as tar:
                manifest = read_manifest(tar, source)
                for rel, files in manifest["entries"].items():
                    parent = root / PurePosixPath(rel).parent
                    parent.mkdir(parents=True, exist_ok=True)
                    tmp = staged[rel] = new_temporary(parent, PurePosixPath(rel).name)
                    for f, digest in files.items():
                        if "/" in f or f.startswith("."):
                            raise ArchiveError(f"{source}: entry {rel} names a file {f!r} outside it")
                        try:
                            data = tar.extractfile(f"{rel}/{f}").read()
                        except (KeyError, AttributeError):
                            raise ArchiveError(f"{source} is damaged: {rel}/{f} is missing") from None
                        if hashlib.sha256(data).hexdigest() != digest:
                            raise ArchiveError(f"{source} is damaged: {rel}/{f} does not match its checksum")
                        (tmp / f).write_bytes(data)
        except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ArchiveError(f"{source} is not a readable archive ({type(exc).__name__}: {first.rstrip(':')})") from None
        counts = {"installed": 0, "kept": 0}
        for rel, tmp in staged.items():
            final = root / rel
            with entry_lock(final):
                if final.exists() and not force:
                    counts["kept"] += 1
                    continue
                install_folder(tmp, final)
                counts["installed"] += 1
        say(f"imported {source} into {root}: {counts['installed']} entries installed, {counts['kept']} already there "
            "(kept" + (")" if not counts["kept"] else "; --force replaces them)"))
        return counts
    finally:
        for tmp in staged.values():
            shutil.rmtree(tmp, ignore_errors=True)
