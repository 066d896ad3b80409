"""The tests' one helper module (conftest.py keeps only fixtures and hooks): where the data is, a cached
tiny data set, the smoke book's build command and the README's papermill route.

The tests find MNIST the way the package does: ``VAE_MNIST_DATA_DIR`` when it is set (``.ci/run``
and ``make test`` point it at ``../shared/data/mnist``), else Keras's own download and cache. No
test assumes a ``../shared`` folder beside the clone.
"""
import dataclasses
import functools
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR: Optional[Path] = Path(os.environ["VAE_MNIST_DATA_DIR"]) if os.environ.get("VAE_MNIST_DATA_DIR") else None


def data_env(env=None) -> dict:
    """A copy of ``env`` (default: this process's environment) for a subprocess that finds the data like we do."""
    e = dict(os.environ if env is None else env)
    if DATA_DIR is not None:
        e["VAE_MNIST_DATA_DIR"] = str(DATA_DIR)
    else:
        e.pop("VAE_MNIST_DATA_DIR", None)
    return e


@functools.lru_cache(maxsize=None)
def mnist():
    from vae_mnist.core.data import load_dataset

    return load_dataset("mnist", DATA_DIR)


def tiny(train=1000, test=200):
    return mnist().subset(train, test)


def idx_bytes(array) -> bytes:
    """``array`` (uint8) as an IDX file."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def copy_mnist_files(folder: Path) -> Path:
    """A private copy of the four MNIST files in ``folder`` (to damage in a test).

    Copied from the data folder when there is one; else written back from the arrays Keras
    downloaded (the same bytes as the official files, so the package's checksums hold).
    """
    import shutil

    import numpy as np

    from vae_mnist.core.data import FILES

    folder.mkdir(parents=True, exist_ok=True)
    if DATA_DIR is not None and all((DATA_DIR / f"{stem}.gz").is_file() for stem in FILES.values()):
        for stem in FILES.values():
            shutil.copy(DATA_DIR / f"{stem}.gz", folder / f"{stem}.gz")
        return folder
    d = mnist()
    arrays = {"x_train": np.rint(d.x_train * 255).reshape(-1, 28, 28), "y_train": d.y_train,
              "x_test": np.rint(d.x_test * 255).reshape(-1, 28, 28), "y_test": d.y_test}
    for key, stem in FILES.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(arrays[key]), compresslevel=1))
    return folder


@dataclasses.dataclass
class SmokeBook:
    root: Path          # the temporary book root (_config.yml, _toc.yml, book/)
    html: Path          # <root>/_build/html
    cache_dir: Path     # the private run cache the build trained into
    log: Path           # everything the build printed
    returncode: int
    seconds: float
    env: dict           # the environment the build ran with (to rebuild the same way)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def vae_mnist_command() -> list:
    exe = Path(sys.executable).with_name("vae-mnist")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "vae_mnist.cli.main"]


def build_smoke_book(root: Path, env: dict, log: Path, *extra: str) -> tuple:
    t0 = time.perf_counter()
    with open(log, "ab") as fh:
        # --workers 1: the smoke profile's eleven 1-epoch runs in this one process (on the default Dask
        # cluster each starts a process of its own, and TensorFlow's start-up is most of a smoke run's
        # time); the Dask path of the same job loop is tested in tests/test_parallel.py
        code = subprocess.call(vae_mnist_command() + ["book", "--profile", "smoke", "--workers", "1", "--root", str(root), *extra],
                               env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=str(root))
    return code, time.perf_counter() - t0


#: Appended to the README's papermill command in the smoke book: the smoke profile's tiny settings.
SMOKE_PARAMETERS = "-p epochs 1 -p train_subset 2000 -p test_subset 500"
#: The pages the README's papermill command writes in the smoke book: as written (from the book's root)
#: and with papermill's --cwd (the kernel in book/runs).
README_PAGES = ("my-run", "my-run-cwd")


def readme_papermill_command() -> str:
    """The README's raw papermill command for a rerun, exactly as printed there."""
    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"^jupytext --to ipynb .*\| papermill - .*$", readme, flags=re.M)
    assert len(found) == 1, f"README should print one papermill command, found {found}"
    return found[0]


def run_readme_papermill(root: Path, env: dict, log: Path) -> None:
    """Run the README's papermill command in ``root`` (literally, then with ``--cwd book/runs``)."""
    command = readme_papermill_command()
    variants = {"my-run": command,
                "my-run-cwd": command.replace("papermill - book/runs/my-run.ipynb",
                                              "papermill - book/runs/my-run-cwd.ipynb --cwd book/runs")}
    env = {**env, "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")}
    for name, cmd in variants.items():
        assert f"book/runs/{name}.ipynb" in cmd
        with open(log, "ab") as fh:
            fh.write(f"$ {cmd} {SMOKE_PARAMETERS}\n".encode())
            fh.flush()
            subprocess.run(f"set -o pipefail; {cmd} {SMOKE_PARAMETERS}", shell=True, executable="/bin/bash",
                           cwd=str(root), env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)


def check_schema(path: Path, schema: str) -> subprocess.CompletedProcess:
    """``check-jsonschema --builtin-schema <schema> <path>`` (the validator from the lock)."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "check_jsonschema"]
    return subprocess.run(cmd + ["--builtin-schema", schema, str(path)], capture_output=True, text=True)


#: TensorFlow's own start-up lines, written by its C++ code to file descriptor 2 before its logging is set
#: up (they ignore TF_CPP_MIN_LOG_LEVEL). A command that starts TensorFlow shows them; they are not ours.
TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|I0000 \S+ +\d+ "
                        r"(port|cpu_feature_guard)\.cc:\d+\]|To enable the following instructions)")


def our_lines(stderr: str) -> list:
    """The non-blank lines of ``stderr`` that the package wrote (TensorFlow's start-up lines left out)."""
    return [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP.match(line)]
