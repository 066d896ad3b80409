"""Trained runs, cached by configuration.

A run is a folder ``<cache>/<config.name()>/`` holding ``model.keras`` (Keras native
format), ``config.json``, ``history.json`` and ``metrics.json``. It is built in a
temporary folder beside it and renamed into place only when complete, so an
interrupted or failed run never looks finished. Asking again for a trained
configuration loads it; ``force=True`` retrains.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

from .config import RunConfig
from .data import data_for, load_data_for  # noqa: F401  (chapters import load_data_for from here too)
from .errors import VaeMnistError

ENV_CACHE = "VAE_MNIST_CACHE_DIR"
FILES = ("model.keras", "config.json", "history.json", "metrics.json")


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
        return Path(env).expanduser()
    root = project_root()
    if root is not None:
        return root / ".cache" / "runs"
    return Path.home() / ".cache" / "vae-mnist" / "runs"


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class Run:
    """A finished run folder: configuration, history, metrics and (lazily) the model."""

    def __init__(self, path):
        self.path = Path(path)
        missing = [f for f in FILES if not (self.path / f).is_file()]
        if missing:
            raise VaeMnistError(f"{self.path}: not a finished run (missing {', '.join(missing)})")
        self.config = RunConfig.from_dict(json.loads((self.path / "config.json").read_text()))
        self.history = json.loads((self.path / "history.json").read_text())
        self._model = None

    @property
    def metrics(self) -> dict:
        return json.loads((self.path / "metrics.json").read_text())

    @property
    def model(self):
        if self._model is None:
            import keras

            from . import model as _model  # noqa: F401  registers the VAE class

            self._model = keras.models.load_model(self.path / "model.keras")
        return self._model

    def update_metrics(self, **values) -> dict:
        """Add or replace entries of ``metrics.json`` (atomically)."""
        metrics = self.metrics
        metrics.update(values)
        _write_json(self.path / "metrics.json", metrics)
        return metrics

    def __repr__(self):
        return f"Run({str(self.path)!r})"


def run_path(config: RunConfig, root: Optional[Path] = None) -> Path:
    return Path(root or cache_dir()) / config.name()


def is_finished(path: Path) -> bool:
    return all((Path(path) / f).is_file() for f in FILES)


def get_run(config: RunConfig, data_dir=None, force: bool = False, progress=print, data=None,
            root: Optional[Path] = None) -> Run:
    """The finished run for ``config``: loaded from the cache, or trained and cached."""
    say = progress or (lambda s: None)
    final = run_path(config, root)
    if is_finished(final) and not force:
        say(f"using cached run {final}")
        return Run(final)
    if data is None:
        data = load_data_for(config, data_dir)
    else:
        data = data_for(config, data)
    return _train_into(config, data, final, say)


def _train_into(config: RunConfig, data, final: Path, say) -> Run:
    from . import __version__
    from .evaluation import negative_elbo
    from .training import seconds_per_epoch, train

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
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
            "key": config.key(),
        }
        model.save(tmp / "model.keras")
        _write_json(tmp / "config.json", config.to_dict())
        _write_json(tmp / "history.json", history)
        _write_json(tmp / "metrics.json", metrics)  # written last: marks the run complete
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".old-{final.name}-", dir=final.parent))
            os.replace(final, trash / "run")
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"run saved in {final}")
    run = Run(final)
    run._model = model
    return run


def list_runs(root: Optional[Path] = None):
    """Every finished run in the cache."""
    root = Path(root or cache_dir())
    if not root.is_dir():
        return []
    return [Run(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".") and is_finished(p)]
