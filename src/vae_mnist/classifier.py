"""A small image classifier per data set, trained by the build, to put numbers on what images show.

The chapters use it as a measuring instrument (:mod:`vae_mnist.sample_quality`): how clearly a
decoded sample is some digit, whether a reconstruction keeps the class of its image. It is a
Keras MLP (784 -> 256 ReLU -> 10 softmax), seeded, trained for a few epochs on the training set
of its data set (the smoke profile's subset in the smoke profile) and cached in the run cache,
in ``<cache>/.classifiers/classifier-<dataset>-<key>/`` holding ``classifier.keras`` and
``classifier.json`` (its settings and test accuracy). The leading dot keeps the folder out of the
run scan (:func:`vae_mnist.runs.scan_runs`), which would take it for a damaged run. The folder is
written under a temporary name and renamed into place when complete, so a failed or interrupted
training leaves nothing that looks finished (temporaries of killed processes are removed on the
next start, :mod:`vae_mnist.leftovers`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .profiles import PROFILES, current_profile

SUBDIR = ".classifiers"
MODEL_FILE = "classifier.keras"
INFO_FILE = "classifier.json"  # written last: marks the folder complete


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Everything that determines a trained classifier."""

    dataset: str = "mnist"
    hidden_dim: int = 256
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    train_subset: Optional[int] = None
    test_subset: Optional[int] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        from . import __version__

        payload = json.dumps({"classifier": self.to_dict(), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def name(self) -> str:
        return f"classifier-{self.dataset}-{self.key()}"


def classifier_config(dataset: str = "mnist", profile: Optional[str] = None) -> ClassifierConfig:
    """The classifier the book uses for ``dataset`` under ``profile`` (the profile's data subsets)."""
    settings = PROFILES[current_profile(profile)]
    return ClassifierConfig(dataset=dataset, train_subset=settings.get("train_subset"),
                            test_subset=settings.get("test_subset"))


class Classifier:
    """A finished classifier folder: its settings, test accuracy and (lazily) the Keras model."""

    def __init__(self, path):
        self.path = Path(path)
        if not is_finished(self.path):
            from .errors import VaeMnistError

            raise VaeMnistError(f"{self.path}: not a finished classifier")
        self.info = json.loads((self.path / INFO_FILE).read_text())
        self._model = None

    @property
    def key(self) -> str:
        return self.info["key"]

    @property
    def test_accuracy(self) -> float:
        return self.info["test_accuracy"]

    @property
    def model(self):
        if self._model is None:
            import keras

            self._model = keras.models.load_model(self.path / MODEL_FILE)
        return self._model

    def probabilities(self, x, batch_size: int = 5000) -> np.ndarray:
        """Class probabilities (rows sum to 1) for every row of ``x`` (images as 784 values in [0, 1])."""
        x = np.asarray(x, dtype="float32").reshape(len(x), -1)
        out = [np.asarray(self.model(x[a:a + batch_size], training=False)) for a in range(0, len(x), batch_size)]
        return np.concatenate(out).astype("float64") if out else np.zeros((0, 10))

    def predict(self, x) -> np.ndarray:
        """The most probable class of every row of ``x``."""
        return self.probabilities(x).argmax(axis=1)

    def __repr__(self):
        return f"Classifier({str(self.path)!r})"


def is_finished(path) -> bool:
    path = Path(path)
    return (path / MODEL_FILE).is_file() and (path / INFO_FILE).is_file()


def classifier_path(config: ClassifierConfig, root=None) -> Path:
    from .runs import cache_dir

    return Path(root or cache_dir()) / SUBDIR / config.name()


def build_classifier(hidden_dim: int = 256, seed: int = 0, n_classes: int = 10, input_dim: int = 784):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x = keras.Input(shape=(input_dim,), name="image")
    h = layers.Dense(hidden_dim, activation="relu", name="hidden")(x)
    p = layers.Dense(n_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(x, p, name="classifier")


def get_classifier(dataset: str = "mnist", profile: Optional[str] = None, data=None, data_dir=None,
                   config: Optional[ClassifierConfig] = None, root=None, progress=print) -> Classifier:
    """The book's classifier for ``dataset``: loaded from the run cache, or trained and cached."""
    say = progress or (lambda s: None)
    config = config or classifier_config(dataset, profile)
    final = classifier_path(config, root)
    if is_finished(final):
        return Classifier(final)
    if data is None:
        from .data import load_dataset

        data = load_dataset(config.dataset, data_dir if config.dataset == "mnist" else None)
    if data.name != config.dataset:
        from .errors import DataError

        raise DataError(f"a {config.dataset} classifier cannot be trained on {data.name}")
    data = data.subset(config.train_subset, config.test_subset)
    return _train_into(config, data, final, say)


def _train_into(config: ClassifierConfig, data, final: Path, say) -> Classifier:
    import keras

    from . import __version__

    from .leftovers import OWNER_FILE, remove_leftovers, write_owner

    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final.parent, ".tmp-*", say)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    write_owner(tmp)
    try:
        say(f"training the {config.dataset} classifier ({config.epochs} epochs on {len(data.x_train):,} images)")
        t0 = time.perf_counter()
        model = build_classifier(config.hidden_dim, config.seed)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])

        class _Progress(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                say(f"  classifier epoch {epoch + 1}/{config.epochs}: training accuracy {logs['accuracy']:.4f}")

        model.fit(data.x_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                  shuffle=True, verbose=0, callbacks=[_Progress()])
        seconds = time.perf_counter() - t0
        probs = np.asarray(model.predict(data.x_test, batch_size=5000, verbose=0))
        accuracy = float(np.mean(probs.argmax(axis=1) == data.y_test))
        info = {**config.to_dict(), "key": config.key(), "version": __version__,
                "train_size": int(len(data.x_train)), "test_size": int(len(data.x_test)),
                "test_accuracy": accuracy, "train_seconds": seconds, "data_source": data.source}
        model.save(tmp / MODEL_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        (tmp / OWNER_FILE).unlink()
        if is_finished(final):  # another process finished the same classifier meanwhile: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return Classifier(final)
        if final.exists():  # an unfinished folder (a finished one is loaded, never retrained)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"{config.dataset} classifier: test accuracy {accuracy:.4f}, {seconds:.0f}s, saved in {final}")
    out = Classifier(final)
    out._model = model
    return out


__all__ = ["ClassifierConfig", "Classifier", "classifier_config", "get_classifier", "build_classifier"]
