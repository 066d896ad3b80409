"""``vae-mnist import`` of a models archive: every file is checked before anything is installed.

The round trip on real trained runs (export from the smoke book's cache, import into an empty one, a build that
trains nothing and whose results ledger equals the smoke book's) is in ``tests/test_ledger_book.py``; here the
archives are written by hand, so that each can be damaged in one known way.
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from helpers import vae_mnist_command
from vae_mnist.store.archive import FORMAT, MANIFEST

ENTRY = "mnist-bernoulli-z2-e50-b128-s0-0123456789ab"
FILES = {"config.json": b'{"latent_dim": 2}', "history.json": b'{"loss": [1.0]}', "model.keras": b"PK\x05\x06" + bytes(18)}


def archive(path, files=FILES, entry=ENTRY, manifest_files=None, extra=None):
    manifest = {"format": FORMAT, "profile": "full", "seeds": 1,
                "entries": {entry: {f: hashlib.sha256(d).hexdigest() for f, d in (manifest_files or files).items()}}}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [(MANIFEST, json.dumps(manifest).encode())] + \
                          [(f"{entry}/{f}", d) for f, d in files.items()] + list((extra or {}).items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def run_import(path, cache, *args):
    env = {"VAE_MNIST_CACHE_DIR": str(cache)}
    import os

    return subprocess.run(vae_mnist_command() + ["import", str(path), *args], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=120)


def test_import_installs_every_entry_once_and_keeps_what_is_there(tmp_path):
    cache = tmp_path / "cache"
    done = run_import(archive(tmp_path / "a.tar.gz"), cache)
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in (cache / ENTRY).iterdir()} == FILES
    again = run_import(tmp_path / "a.tar.gz", cache)
    assert again.returncode == 0 and "0 entries installed, 1 already there" in again.stdout
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name]   # nothing half-finished left behind


@pytest.mark.parametrize("damage", ["checksum", "missing file", "outside the cache", "no manifest", "not a tar"])
def test_a_damaged_archive_is_one_line_exit_2_and_installs_nothing(tmp_path, damage):
    path = tmp_path / "bad.tar.gz"
    if damage == "checksum":
        archive(path, files=dict(FILES, **{"history.json": b'{"loss": [2.0]}'}), manifest_files=FILES)
    elif damage == "missing file":
        archive(path, files={k: v for k, v in FILES.items() if k != "model.keras"}, manifest_files=FILES)
    elif damage == "outside the cache":
        archive(path, entry="../escaped")
    elif damage == "no manifest":
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo("x")
            tar.addfile(info, io.BytesIO(b""))
    else:
        path.write_bytes(b"not an archive at all")
    cache = tmp_path / "cache"
    done = run_import(path, cache)
    assert done.returncode == 2, (damage, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vae-mnist: error:") and str(path) in lines[0], done.stderr
    assert not (cache / ENTRY).exists() and not (tmp_path / "escaped").exists()
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name] if cache.exists() else True
