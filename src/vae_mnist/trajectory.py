"""The latent space forming over training: a 2-D model's codes and decoded grid at every epoch.

:func:`get_trajectory` trains a configuration exactly as the run cache does (:func:`train_recording`:
the model, optimiser, epoch function and test evaluation of :mod:`vae_mnist.training`) with a Keras
callback, :class:`LatentRecorder`, that after every epoch (and once before the first) records, on a
fixed subset of test images, the posterior means and log-variances, and decodes a fixed grid of
latent points. The recorder only reads the model, so training is unchanged: the chapter checks that
the recorded history equals the cached run's ``history.json``. Trajectories are cached beside the
run cache (``<run cache>/../trajectories``), keyed on the run's name and the training code's hash.

:func:`trajectory_widget` is the browser view (a slider over epochs, play/pause; ``static/trajectory.js``),
:func:`small_multiples_figure` the still for print and for readers without JavaScript.
"""
from __future__ import annotations

import base64
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .explorer import ExplorerHTML, _b64, _print_note, _script, pad_range

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

    def __init__(self, x, grid_z):
        super().__init__()
        self.x = np.asarray(x, dtype="float32")
        self.grid_z = np.asarray(grid_z, dtype="float32")
        self.codes, self.log_vars, self.grids = [], [], []

    def _record(self):
        from .evaluation import decode, encode

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
CODE_FILES = ("model.py", "losses.py", "training.py", "data.py", "trajectory.py")
SUBDIR = ".trajectories"
FILE = "trajectory.npz"
ARRAYS = ("codes", "log_vars", "labels", "grids", "history", "run", "code_hash")


def code_hash() -> str:
    from .store import code_hash as hash_of

    return hash_of(CODE_FILES)


def trajectory_path(config, n_codes: int = N_CODES, grid_n: int = GRID_N, root=None) -> Path:
    """The store entry (a folder) holding the trajectory of ``config`` recorded on ``n_codes`` images."""
    from .store import cache_dir

    return Path(root if root is not None else cache_dir()) / SUBDIR / f"{config.name()}-c{n_codes}-g{grid_n}"


def _load(path: Path) -> Trajectory:
    with np.load(path / FILE, allow_pickle=False) as f:
        n = int(f["grids"].shape[1] ** 0.5)
        g = f["grids"].reshape(len(f["grids"]), n, n, 28, 28).transpose(0, 1, 3, 2, 4)
        return Trajectory(run=str(f["run"]), codes=f["codes"], log_vars=f["log_vars"], labels=f["labels"],
                          grids=g.reshape(len(g), n * 28, n * 28), history=json.loads(str(f["history"])))


def check_trajectory(path, full: bool = False):
    """``(None, trajectory)`` if ``path`` holds a usable recording, else ``(Problem, None)`` (the store's check)."""
    from .entry_checks import Problem, check_files

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


def get_trajectory(config, data=None, data_dir=None, n_codes: int = N_CODES, grid_n: int = GRID_N,
                   progress=print, root=None) -> Trajectory:
    """The recorded trajectory of ``config`` (a 2-D model): from the store, or recorded into it (once).

    Recording trains ``config`` afresh with :func:`vae_mnist.training.train` and a
    :class:`LatentRecorder` among its callbacks: the same training as the cached run (the chapter
    checks the history against the run's ``history.json``).
    """
    from .figures import manifold_grid
    from .runs import load_data_for
    from .store import obtain
    from .training import train

    if config.latent_dim != 2:
        raise ValueError(f"the trajectory needs a 2-D latent space, this configuration has z = {config.latent_dim}")

    def build(tmp: Path):
        d = data if data is not None else load_data_for(config, data_dir)
        labels = np.asarray(d.y_test[:n_codes])
        recorder = LatentRecorder(d.x_test[:n_codes], manifold_grid(grid_n).reshape(-1, 2))
        _, history, _ = train(config, d, progress=progress, callbacks=[recorder])
        with open(tmp / FILE, "wb") as fh:
            np.savez_compressed(fh, codes=np.stack(recorder.codes), log_vars=np.stack(recorder.log_vars),
                                labels=labels.astype(np.uint8), grids=np.stack(recorder.grids),
                                history=json.dumps(history), run=config.name(), code_hash=code_hash())
        return None

    final = trajectory_path(config, n_codes, grid_n, root)
    obtain(final, check_trajectory, build, say=progress, what="trajectory", signature_files=(FILE,))
    problem, traj = check_trajectory(final, True)
    if problem is not None:  # pragma: no cover (obtain installed a checked entry)
        raise RuntimeError(f"trajectory {final} {problem.file}: {problem.reason}")
    return traj


# --------------------------------------------------------------------------------------
# Still and widget
# --------------------------------------------------------------------------------------
def shown_epochs(epochs: int, k: int = 6) -> list:
    """Up to ``k`` epochs for the small multiples: 0, 1, then roughly doubling, and the last."""
    picks = [0, 1, 2, 5, 10, 20, 30, 50, 100]
    out = [e for e in picks if e < epochs] + [epochs]
    out = sorted(set(out))
    while len(out) > k:
        out.pop(-2)
    return out


def small_multiples_figure(traj: Trajectory, epochs=None, per_row: int = 3):
    """Codes (coloured by digit, as Figure 4) above the decoded grid, at a few epochs, ``per_row`` epochs
    to a row; above each, the epoch, the mean KL to the prior and the k-NN vote's accuracy. Drawn in the
    book's figure style (:func:`vae_mnist.figures.readable`, at most the page's width)."""
    from .figures import PAGE_WIDTH_IN, _new_figure, readable

    epochs = shown_epochs(traj.epochs) if epochs is None else list(epochs)
    R = pad_range(traj.codes.reshape(-1, 2))
    sep, kl = traj.separation(), traj.kl()
    rows = -(-len(epochs) // per_row)
    cell = PAGE_WIDTH_IN / per_row
    fig = _new_figure((PAGE_WIDTH_IN, rows * 2.15 * cell))
    grid = fig.add_gridspec(2 * rows, per_row)
    for j, e in enumerate(epochs):
        r, c = divmod(j, per_row)
        ax = fig.add_subplot(grid[2 * r, c])
        ax.scatter(traj.codes[e, :, 0], traj.codes[e, :, 1], c=traj.labels, cmap="tab10", vmin=-0.5, vmax=9.5,
                   s=3, linewidths=0)
        ax.set_xlim(-R, R)
        ax.set_ylim(-R, R)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"epoch {e}: KL {kl[e]:.1f}\n{KNN_K}-NN {100 * sep[e]:.0f} %")
        img = fig.add_subplot(grid[2 * r + 1, c])
        img.imshow(traj.grids[e], cmap="gray", vmin=0, vmax=255)
        img.axis("off")
    return readable(fig)


def _png(img: np.ndarray, levels: int = GRID_LEVELS) -> str:
    """An 8-bit grey image as a greyscale PNG data URI, quantised to ``levels`` grey levels (smaller files)."""
    import struct
    import zlib

    q = np.rint(np.rint(np.asarray(img, dtype=np.float64) / 255 * (levels - 1)) * 255 / (levels - 1)).astype(np.uint8)
    h, w = q.shape
    raw = b"".join(b"\x00" + q[r].tobytes() for r in range(h))  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def library_js() -> str:
    from importlib import resources

    return resources.files("vae_mnist").joinpath("static", "trajectory.js").read_text(encoding="utf-8")


def trajectory_widget(traj: Trajectory, element_id: str = "vae-trajectory", size: int = 320) -> ExplorerHTML:
    """A plane of the recorded codes and the decoded grid at one epoch; a slider over epochs, play/pause."""
    from . import explorer

    R = pad_range(traj.codes.reshape(-1, 2))
    payload = {"name": element_id, "run": traj.run, "epochs": traj.epochs, "n": int(traj.codes.shape[1]),
               "codes": [_b64(c.astype("<f2")) for c in traj.codes], "labels": _b64(traj.labels.astype(np.uint8)),
               "grids": [_png(g) for g in traj.grids], "kl": [round(float(v), 3) for v in traj.kl()],
               "separation": [round(float(v), 4) for v in traj.separation()], "range": R}
    pid = element_id
    body = f"""<div class="vae-explorer vae-trajectory" id="{pid}">
<div><canvas class="vae-trajectory-plane" width="{size}" height="{size}" role="img"
 aria-label="test-set codes at the chosen epoch"></canvas></div>
<div><canvas class="vae-trajectory-grid" width="{traj.grids.shape[1]}" height="{traj.grids.shape[2]}" role="img"
 aria-label="decoded grid at the chosen epoch" style="width:{size}px; height:{size}px; border:1px solid #bbb"></canvas></div>
<div style="flex-basis:100%"><label for="{pid}-epoch">epoch</label>
<input type="range" class="vae-trajectory-slider" id="{pid}-epoch" min="0" max="{traj.epochs}" step="1"
 value="{traj.epochs}" style="width:18em; vertical-align:middle">
<button type="button" class="vae-trajectory-play">play</button>
<span class="vae-explorer-z vae-trajectory-readout" aria-live="polite"></span></div>
</div>"""
    parts = [explorer._STYLE, _script(explorer.library_js()), _script(library_js()), _print_note(body, pid),
             _script(f"window.vaeExplorer.mountTrajectory({json.dumps(pid)}, "
                     + json.dumps(payload, separators=(",", ":")) + ");")]
    return ExplorerHTML("\n".join(parts), payload)
