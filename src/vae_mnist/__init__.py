"""The MLP variational auto-encoder of Gupta, Reddy and Starliper on MNIST, in Keras 3.

The package is the single source of truth for the book: data, model, loss,
training, evaluation and every figure live here; chapters import and call it.
"""
import os

# Keep TensorFlow's C++ start-up chatter out of terminals and rendered cells.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"


class _Quiet:
    """File descriptor 2 silenced: TensorFlow's C++ start-up lines ("All log messages before
    absl::InitializeLog()...", oneDNN notices) ignore TF_CPP_MIN_LOG_LEVEL; they would clutter the
    terminal and become warnings in the book build. Set VAE_MNIST_TF_VERBOSE=1 to see them."""

    def __enter__(self):
        import sys

        self.saved = None
        if os.environ.get("VAE_MNIST_TF_VERBOSE"):
            return self
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            return self
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


class _KerasHook:
    """Keras and TensorFlow when something first asks for them, not at ``import vae_mnist``.

    ``import vae_mnist`` costs milliseconds: a process that never builds or opens a model (``vae-mnist
    --help`` or ``list``, a Dask worker, the ``jupyter-book`` process, a run page whose parameters are
    wrong) never starts TensorFlow (about 4 s). The first import of ``tensorflow`` in this process, from
    anywhere (the package, a chapter, Keras itself), is made quietly, and right after the first import of
    ``keras`` the package's ``VAE`` class is registered with it, so ``keras.models.load_model("model.keras")``
    works after ``import vae_mnist`` as it always did. A finder at the front of ``sys.meta_path`` that only
    wraps the real loader's ``exec_module`` for these two names; it takes itself out once Keras is in.
    """

    NAMES = ("tensorflow", "keras")

    def __init__(self):
        self.running = 0        # imports of the two under way (TensorFlow imports Keras, and Keras TensorFlow)
        self.keras_in = False

    def find_spec(self, name, path=None, target=None):
        import sys

        if name not in self.NAMES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            self.running += 1
            try:
                if name == "tensorflow" and os.environ.get("KERAS_BACKEND") == "tensorflow":
                    with _Quiet():
                        original(module)
                else:
                    original(module)
            finally:
                self.running -= 1
            self.keras_in = self.keras_in or name == "keras"
            if self.keras_in and self.running == 0:  # both imports finished: the class can be defined
                self.remove()
                from . import model  # noqa: F401  (registers VAE with Keras)

        loader.exec_module = exec_module  # this spec's own loader object: nothing else is changed
        return spec

    def remove(self):
        import sys

        while self in sys.meta_path:
            sys.meta_path.remove(self)


def load_keras() -> None:
    """Import TensorFlow (quietly) and Keras now, with the package's ``VAE`` class registered."""
    import keras  # noqa: F401  (through _KerasHook the first time)

    from . import model  # noqa: F401


from .errors import VaeMnistError, ConfigError, DataError  # noqa: E402,F401
from .config import RunConfig  # noqa: E402,F401


def _install_keras_hook() -> None:
    import sys

    if "keras" in sys.modules:  # Keras came first: register now
        load_keras()
    elif not any(isinstance(f, _KerasHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasHook())


_install_keras_hook()
