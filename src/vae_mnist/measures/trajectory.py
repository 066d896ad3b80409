"""The latent space forming over training: a 2-D model's codes and decoded grid at every epoch.

:func:`get_trajectory` trains a configuration exactly as the run cache does (:func:`vae_mnist.core.training.train`:
the model, optimiser, epoch function and test evaluation) with a Keras
callback, :class:`LatentRecorder`, that after every epoch (and once before the first) records, on a
fixed subset of test images, the posterior means and log-variances, and decodes a fixed grid of
latent points. The recorder only reads the model, so training is unchanged: the chapter checks that
the recorded history equals the cached run's ``history.json``. Trajectories are cached beside the
run cache (``<run cache>/.trajectories``), keyed on the run's name and the training code's hash.

:func:`vae_mnist.widgets.trajectory.trajectory_widget` is the browser view,
:func:`vae_mnist.figures.trajectory.small_multiples_figure` the still for print.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


#: Test images whose codes are recorded (the first N of the test set) and the side of the decoded grid.
N_CODES = 1000
GRID_N = 8
#: Grey levels of the decoded grids the widget ships (one PNG per epoch; the still figure has all 256).
GRID_LEVELS = 32
KNN_K = 5


@dataclass
class Trajectory:
    run: str
    codes: np.ndarray      # (epochs + 1, n, 2) posterior means; index 0 is before training
    log_vars: np.ndarray   # (epochs + 1, n, 2)
    labels: np.ndarray     # (n,)
    grids: np.ndarray      # (epochs + 1, GRID_N * 28, GRID_N * 28) uint8, decoded pixel means
    history: dict          # per-epoch lists, as history.json

    knn_k = KNN_K          # the neighbours of :meth:`separation`'s vote

    @property
    def epochs(self) -> int:
        return len(self.codes) - 1

    def kl(self) -> np.ndarray:
        """Mean KL(q(z|x) || N(0, I)) of the recorded images per epoch (nats, closed form)."""
        m, lv = self.codes.astype(np.float64), self.log_vars.astype(np.float64)
        return (0.5 * (np.exp(lv) + m ** 2 - 1 - lv)).sum(axis=2).mean(axis=1)

    def separation(self, k: int = KNN_K) -> np.ndarray:
        """Per epoch: share of the recorded codes whose ``k`` nearest other codes vote for their own digit."""
        return np.array([knn_accuracy(c, self.labels, k) for c in self.codes])


def knn_accuracy(codes, labels, k: int = KNN_K) -> float:
    """Leave-one-out ``k``-nearest-neighbour accuracy of ``codes`` (majority vote, ties to the nearest)."""
    c = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    d = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    votes = labels[nearest]
    right = 0
    for i, v in enumerate(votes):
        counts = np.bincount(v, minlength=int(labels.max()) + 1)
        best = np.flatnonzero(counts == counts.max())
        pick = next(x for x in v if x in best)  # a tie goes to the class of the nearest among the tied
        right += int(pick == labels[i])
    return right / len(c)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class LatentRecorder(_callback_base()):
    """A Keras callback: codes (mean, log-variance) of ``x`` and the decoded ``grid_z`` at the start and
    after every epoch. It only calls the encoder and decoder (no random draw, no weight change)."""

    def __init__(self, x, grid_z, labels=None, run: str = ""):
        super().__init__()
        self.x = np.asarray(x, dtype="float32")
        self.grid_z = np.asarray(grid_z, dtype="float32")
        self.labels = None if labels is None else np.asarray(labels)
        self.run = run
        self.codes, self.log_vars, self.grids = [], [], []

    def save(self, folder: Path, history: dict) -> Path:
        """Write the recording as :data:`FILE` into ``folder`` (with the training's ``history``)."""
        path = Path(folder) / FILE
        with open(path, "wb") as fh:
            np.savez_compressed(fh, codes=np.stack(self.codes), log_vars=np.stack(self.log_vars),
                                labels=self.labels.astype(np.uint8), grids=np.stack(self.grids),
                                history=json.dumps(history), run=self.run, code_hash=code_hash())
        return path

    def _record(self):
        from ..core.evaluation import decode, encode

        mean, log_var = encode(self.model, self.x)
        self.codes.append(mean.astype("float32"))
        self.log_vars.append(log_var.astype("float32"))
        self.grids.append(np.rint(255 * decode(self.model, self.grid_z)).astype(np.uint8))

    def on_train_begin(self, logs=None):
        self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()


#: The sources that decide what a recorded trajectory holds: training (model, loss, data; as a run's
#: code hash) and this module (what is recorded, on which images and grid).
CODE_MODULES = tuple(f"vae_mnist.core.{m}" for m in ("model", "losses", "training", "data")) + ("vae_mnist.measures.trajectory",)
SUBDIR = ".trajectories"
FILE = "trajectory.npz"
ARRAYS = ("codes", "log_vars", "labels", "grids", "history", "run", "code_hash")


def code_hash() -> str:
    from ..store.entries import code_hash as hash_of

    return hash_of(CODE_MODULES)


def trajectory_path(config, n_codes: int = N_CODES, grid_n: int = GRID_N, root=None) -> Path:
    """The store entry (a folder) holding the trajectory of ``config`` recorded on ``n_codes`` images."""
    from ..store.entries import cache_dir

    return Path(root if root is not None else cache_dir()) / SUBDIR / f"{config.name()}-c{n_codes}-g{grid_n}"


def _load(path: Path) -> Trajectory:
    with np.load(path / FILE, allow_pickle=False) as f:
        n = int(f["grids"].shape[1] ** 0.5)
        g = f["grids"].reshape(len(f["grids"]), n, n, 28, 28).transpose(0, 1, 3, 2, 4)
        return Trajectory(run=str(f["run"]), codes=f["codes"], log_vars=f["log_vars"], labels=f["labels"],
                          grids=g.reshape(len(g), n * 28, n * 28), history=json.loads(str(f["history"])))


def check_trajectory(path, full: bool = False):
    """``(None, trajectory)`` if ``path`` holds a usable recording, else ``(Problem, None)`` (the store's check)."""
    from ..store.checks import Problem, check_files

    path = Path(path)
    problem = check_files(path, (FILE,))
    if problem:
        return problem, None
    try:
        with np.load(path / FILE, allow_pickle=False) as f:
            missing = [k for k in ARRAYS if k not in f.files]
            recorded = str(f["code_hash"]) if "code_hash" in f.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return Problem("damaged", FILE, f"unreadable ({type(exc).__name__})"), None
    if missing:
        return Problem("damaged", FILE, f"wrong arrays (missing {', '.join(missing)})"), None
    if recorded != code_hash():
        return Problem("stale", FILE, "recorded by other training or recording code"), None
    try:
        return None, _load(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return Problem("damaged", FILE, f"unreadable ({type(exc).__name__})"), None


def record_trajectory(config, data, n_codes: int = N_CODES, grid_n: int = GRID_N) -> LatentRecorder:
    """The recorder a 2-D run's own training carries (``get_run(..., recorders=[record_trajectory])``):
    its trajectory is saved in the run folder, and :func:`get_trajectory` reads it from there."""
    from ..figures.paper import manifold_grid

    return LatentRecorder(data.x_test[:n_codes], manifold_grid(grid_n).reshape(-1, 2),
                          labels=data.y_test[:n_codes], run=config.name())


def get_trajectory(config, data=None, data_dir=None, n_codes: int = N_CODES, grid_n: int = GRID_N,
                   progress=print, root=None) -> Trajectory:
    """The recorded trajectory of ``config`` (a 2-D model).

    Recorded during the run's own training when the run was trained with :func:`record_trajectory`
    (the book's build does so for every 2-D run): read from the run folder. Otherwise from the store's
    ``.trajectories``, or recorded into it once by training ``config`` afresh with a
    :class:`LatentRecorder` among its callbacks (the same training: the recorder only reads the model).
    """
    from ..store.runs import load_data_for
    from ..store.entries import cache_dir, obtain
    from ..core.training import train

    if config.latent_dim != 2:
        raise ValueError(f"the trajectory needs a 2-D latent space, this configuration has z = {config.latent_dim}")
    in_run = Path(root if root is not None else cache_dir()) / config.name()
    if n_codes == N_CODES and grid_n == GRID_N and (in_run / FILE).is_file():
        problem, traj = check_trajectory(in_run, True)
        if problem is None:
            return traj

    def build(tmp: Path):
        d = data if data is not None else load_data_for(config, data_dir)
        recorder = record_trajectory(config, d, n_codes, grid_n)
        _, history, _ = train(config, d, progress=progress, callbacks=[recorder])
        recorder.save(tmp, history)
        return None

    final = trajectory_path(config, n_codes, grid_n, root)
    obtain(final, check_trajectory, build, say=progress, what="trajectory", signature_files=(FILE,))
    problem, traj = check_trajectory(final, True)
    if problem is not None:  # pragma: no cover (obtain installed a checked entry)
        raise RuntimeError(f"trajectory {final} {problem.file}: {problem.reason}")
    return traj
