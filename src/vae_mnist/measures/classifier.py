"""A small image classifier per data set, trained by the build, to put numbers on what images show.

The chapters use it as a measuring instrument (:mod:`vae_mnist.measures.sample_quality`): how clearly a
decoded sample is some digit, whether a reconstruction keeps the class of its image. It is a
Keras MLP (784 -> 256 ReLU -> 10 softmax), seeded, trained for a few epochs on the training set
of its data set (the smoke profile's subset in the smoke profile) and kept in the store
(:mod:`vae_mnist.store.entries`) like a run: ``<cache>/.classifiers/classifier-<dataset>-<key>/`` holding
``classifier.keras`` and ``classifier.json`` (its settings, test accuracy and the hash of the code
that trained it, :data:`CODE_MODULES`). Built aside and installed atomically, checked before use,
locked while trained (two processes asking for one classifier train it once), stale when this
module or the data loading changes, moved aside when damaged. The leading dot keeps the folder out
of the run scan (:func:`vae_mnist.store.runs.scan_runs`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..store.checks import Problem, check_code_hash, check_files, check_keras_archive, load_keras_archive, read_json
from ..store.checks import write_json
from ..profiles import PROFILES, current_profile
from ..store.entries import CODE_HASH_KEY, cache_dir, code_hash as _hash_of, obtain
from ..progress import reporter

SUBDIR = ".classifiers"
MODEL_FILE = "classifier.keras"
INFO_FILE = "classifier.json"
FILES = (MODEL_FILE, INFO_FILE)
#: The sources that decide what a classifier holds: this module (architecture, training) and the data.
CODE_MODULES = ("vae_mnist.measures.classifier", "vae_mnist.core.data")
INFO_KEYS = ("key", "test_accuracy", "dataset")


def code_hash() -> str:
    """A hash of :data:`CODE_MODULES`, recorded in every classifier's ``classifier.json``."""
    return _hash_of(CODE_MODULES)


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
        from ..version import __version__

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

    def __init__(self, path, model=None):
        self.path = Path(path)
        problem = check_classifier(self.path)
        if problem is not None and problem.kind == "damaged":
            from ..errors import DamagedRunError

            raise DamagedRunError(self.path, problem.file, problem.reason)
        self.info = json.loads((self.path / INFO_FILE).read_text())
        self._model = model

    @property
    def key(self) -> str:
        """Which classifier this is: its settings and the code that trained it (measures record it)."""
        return f"{self.info['key']}-{self.info.get(CODE_HASH_KEY, 'none')[:8]}"

    @property
    def test_accuracy(self) -> float:
        return self.info["test_accuracy"]

    @property
    def model(self):
        if self._model is None:
            model, problem = load_keras_archive(self.path, MODEL_FILE)
            if problem:
                from ..errors import DamagedRunError

                raise DamagedRunError(self.path, problem.file, problem.reason)
            self._model = model
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


def check_classifier(path, full: bool = False, expected: Optional[ClassifierConfig] = None) -> Optional[Problem]:
    """``None`` if ``path`` is a usable finished classifier, else the first :class:`Problem` (the store's check).

    Cheap: both files there, ``classifier.json`` an object with :data:`INFO_KEYS`, the archive
    complete; ``stale`` when trained by other code or for another configuration than ``expected``.
    Full: the model also loads and gives 10 class probabilities.
    """
    path = Path(path)
    problem = check_files(path, FILES)
    if problem:
        return problem
    info, problem = read_json(path, INFO_FILE)
    if problem:
        return problem
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        return Problem("damaged", INFO_FILE, f"wrong keys (missing {', '.join(missing)})")
    problem = check_keras_archive(path, MODEL_FILE)
    if problem:
        return problem
    problem = check_code_hash(info.get(CODE_HASH_KEY), code_hash(), INFO_FILE, "trained by other classifier code")
    if problem:
        return problem
    if expected is not None and info["key"] != expected.key():
        return Problem("stale", INFO_FILE, f"describes classifier {info['key']}, not {expected.key()}")
    if full:
        model, problem = load_keras_archive(path, MODEL_FILE)
        if problem:
            return problem
        if tuple(getattr(model, "output_shape", ())[-1:]) != (10,):
            return Problem("damaged", MODEL_FILE, f"holds a {type(model).__name__} without 10 class outputs")
    return None


def is_finished(path) -> bool:
    """Whether ``path`` passes the cheap :func:`check_classifier`."""
    return check_classifier(path) is None


def classifier_path(config: ClassifierConfig, root=None) -> Path:
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
    """The book's classifier for ``dataset``: loaded from the store, or trained into it (once, under its lock)."""
    say = reporter(progress)
    config = config or classifier_config(dataset, profile)
    final = classifier_path(config, root)

    def check(path, full):
        problem = check_classifier(path, full, config)
        return problem, None

    def build(tmp: Path):
        from ..core.data import dataset as load

        whole = load(config.dataset, data_dir) if data is None else data
        if whole.name != config.dataset:
            from ..errors import DataError

            raise DataError(f"a {config.dataset} classifier cannot be trained on {whole.name}")
        return _train_into(config, whole.subset(config.train_subset, config.test_subset), tmp, say)

    built, model = obtain(final, check, build, say=say, what="classifier", signature_files=FILES)
    if built:
        say(f"{config.dataset} classifier saved in {final}")
    return Classifier(final, model=model)


def _train_into(config: ClassifierConfig, data, tmp: Path, say):
    """Train the classifier of ``config`` on ``data``; write its two files into ``tmp``; return the model."""
    import keras

    from ..version import __version__

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
    info = {**config.to_dict(), "key": config.key(), "version": __version__, CODE_HASH_KEY: code_hash(),
            "train_size": int(len(data.x_train)), "test_size": int(len(data.x_test)),
            "test_accuracy": accuracy, "train_seconds": seconds, "data_source": data.source}
    model.save(tmp / MODEL_FILE)
    write_json(tmp / INFO_FILE, info)
    say(f"{config.dataset} classifier: test accuracy {accuracy:.4f}, {seconds:.0f}s")
    return model


__all__ = ["ClassifierConfig", "Classifier", "classifier_config", "get_classifier", "build_classifier", "check_classifier"]
