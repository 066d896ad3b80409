"""The configuration of one training run, its validation and its cache key."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from typing import Optional

from .errors import ConfigError

LIKELIHOODS = ("bernoulli", "gaussian")
DATASETS = ("mnist", "fashion-mnist")
#: ``none``: grey levels in [0, 1] (the paper); ``dynamic``: every training image re-drawn as
#: Bernoulli(pixel intensity) each time it is used, the test set binarized once with a fixed seed
#: (Burda et al. 2016).
BINARIZATIONS = ("none", "dynamic")
#: How the reconstruction term is reduced over the 784 pixels during training: ``sum`` (the ELBO)
#: or ``mean`` (the per-pixel mean of the first Keras example; with the KL term summed, the KL then
#: weighs 784 times too much against the ELBO).
RECONSTRUCTIONS = ("sum", "mean")


def _positive_int(name: str, value, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer (at least 1), got {value}")
    return value


MAX_SEED = 2**32 - 1  # Keras and TensorFlow seeds are unsigned 32-bit


def _seed(value) -> int:
    """An integer in 0..2**32-1; ``"7"`` and ``7.0`` are accepted, ``1.5``, ``True`` and ``-1`` are not."""
    seed = value
    if isinstance(seed, str):
        try:
            seed = int(seed.strip())
        except ValueError:
            seed = None
    elif isinstance(seed, float):
        seed = int(seed) if seed.is_integer() else None
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        seed = None
    else:
        seed = int(seed)
    if seed is None or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}, got {value!r}")
    return seed


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model. Defaults are the book's (``vae_mnist.measures.paper`` lists which the paper states).

    ``train_subset``/``test_subset`` take the first N images (for quick tests
    and smoke builds); ``None`` means the full 60,000 / 10,000.
    """

    latent_dim: int = 20
    epochs: int = 50
    batch_size: int = 128
    seed: int = 0
    learning_rate: float = 1e-3
    hidden_dim: int = 512
    likelihood: str = "bernoulli"
    dataset: str = "mnist"
    binarize: str = "none"
    reconstruction: str = "sum"
    train_subset: Optional[int] = None
    test_subset: Optional[int] = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("latent_dim", _positive_int("latent_dim", self.latent_dim))
        set_("epochs", _positive_int("epochs", self.epochs))
        set_("batch_size", _positive_int("batch_size", self.batch_size))
        set_("hidden_dim", _positive_int("hidden_dim", self.hidden_dim))
        set_("train_subset", _positive_int("train_subset", self.train_subset, allow_none=True))
        set_("test_subset", _positive_int("test_subset", self.test_subset, allow_none=True))
        set_("seed", _seed(self.seed))
        try:
            lr = float(self.learning_rate)
        except (TypeError, ValueError):
            raise ConfigError(f"learning_rate must be a positive number, got {self.learning_rate!r}") from None
        if not lr > 0 or lr != lr or lr == float("inf"):
            raise ConfigError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        set_("learning_rate", lr)
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.binarize not in BINARIZATIONS:
            raise ConfigError(f"binarize must be one of {', '.join(BINARIZATIONS)}, got {self.binarize!r}")
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, "
                              f"got {self.reconstruction!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """A short, stable hash of the configuration and the package version."""
        from .version import __version__

        payload = json.dumps({"config": self.to_dict(), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def name(self) -> str:
        """A readable run-folder name, e.g. ``mnist-bernoulli-z20-e50-b128-s0-<key>``.

        Options left at the paper's setting are not named (``-bin`` marks dynamic binarization,
        ``-recmean`` the per-pixel mean reconstruction term).
        """
        parts = [self.dataset, self.likelihood, f"z{self.latent_dim}", f"e{self.epochs}",
                 f"b{self.batch_size}", f"s{self.seed}"]
        if self.binarize != "none":
            parts.append("bin" if self.binarize == "dynamic" else f"bin{self.binarize}")
        if self.reconstruction != "sum":
            parts.append(f"rec{self.reconstruction}")
        if self.train_subset or self.test_subset:
            parts.append(f"sub{self.train_subset or 'all'}-{self.test_subset or 'all'}")
        return "-".join(parts) + "-" + self.key()


#: Names the run template takes besides the RunConfig fields.
NOTEBOOK_EXTRAS = ("data_dir",)


def notebook_config(namespace: dict, extras=NOTEBOOK_EXTRAS) -> RunConfig:
    """The :class:`RunConfig` of a papermill-executed page, from its global names.

    Called by the run template right after its ``parameters`` cell (and the cell papermill injects
    after it): every name the notebook defined so far must be a RunConfig field or one of
    ``extras``, so a misspelt ``-p latent_dm 5`` stops the run with one line naming the unknown
    parameter instead of quietly training the defaults. IPython's own names (``In``, ``Out``, ...),
    names starting with ``_``, modules and functions are not parameters.
    """
    import difflib
    import types

    fields = [f.name for f in dataclasses.fields(RunConfig)]
    allowed = fields + list(extras)
    hidden = set()
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            hidden = set(shell.user_ns_hidden)
    except ImportError:
        pass
    names = sorted(k for k, v in namespace.items() if not k.startswith("_") and k not in hidden
                   and not isinstance(v, types.ModuleType) and not callable(v))
    unknown = [k for k in names if k not in allowed]
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown parameter {unknown[0]!r}{hint}; the run template takes "
                          f"{', '.join(allowed)}")
    return RunConfig(**{k: namespace[k] for k in fields if k in namespace})
