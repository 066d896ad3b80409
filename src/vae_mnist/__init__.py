"""The MLP variational auto-encoder of Gupta, Reddy and Starliper on MNIST, in Keras 3.

The package is the single source of truth for the book: data, model, loss,
training, evaluation and every figure live here; chapters import and call it.
"""
import os

# Keep TensorFlow's C++ start-up chatter out of terminals and rendered cells.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"


def _import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 silenced.

    TensorFlow's C++ start-up lines ("All log messages before absl::InitializeLog()...",
    oneDNN notices) ignore TF_CPP_MIN_LOG_LEVEL; they would clutter the terminal and
    become warnings in the book build. Set VAE_MNIST_TF_VERBOSE=1 to see them.
    """
    import sys

    if os.environ.get("VAE_MNIST_TF_VERBOSE") or os.environ.get("KERAS_BACKEND") != "tensorflow" \
            or "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_keras() -> None:
    """Import TensorFlow (quietly) and register the package's ``VAE`` class with Keras."""
    _import_tensorflow_quietly()
    from . import model  # noqa: F401


def _started_as_the_command_line() -> bool:
    """Whether this process is the ``vae-mnist`` command (or ``python -m vae_mnist.cli``).

    The command reads its arguments first and imports TensorFlow only for a command that needs it
    (``cli.main`` calls :func:`load_keras`): ``--help``, an argument error or ``vae-mnist list``
    answer at once. Every other ``import vae_mnist`` loads Keras right away, as before.
    """
    import sys

    argv = list(getattr(sys, "orig_argv", None) or [])
    if "-m" in argv:
        return argv[argv.index("-m") + 1:argv.index("-m") + 2] == ["vae_mnist.cli"]
    return bool(sys.argv) and os.path.basename(sys.argv[0]) in ("vae-mnist", "vae-mnist.exe")


from .errors import VaeMnistError, ConfigError, DataError  # noqa: E402,F401
from .config import RunConfig  # noqa: E402,F401

#: Set (to 1) by the package for its own helper processes that may never need Keras: a local Dask worker
#: (each task runs in a child process of its own) and the ``jupyter-book`` process that loads
#: :mod:`vae_mnist.sphinx_extension`. There ``import vae_mnist`` leaves TensorFlow out (about 4 s of
#: start-up); the package loads Keras itself wherever it builds or opens a model.
ENV_KERAS_ON_DEMAND = "VAE_MNIST_KERAS_ON_DEMAND"

if not _started_as_the_command_line() and not os.environ.get(ENV_KERAS_ON_DEMAND):
    # Registers the VAE class with Keras, so keras.models.load_model("model.keras") works after
    # `import vae_mnist` (Keras itself is imported by TensorFlow: no extra start-up time).
    load_keras()
