"""The MLP variational auto-encoder of Gupta, Reddy and Starliper on MNIST, in Keras 3.

The package is the single source of truth for the book: data, model, loss, training, evaluation and
every figure live here; chapters import and call it.

Layers (each imports only from itself, from the rows above it and from the root modules; checked by
``tests/test_layers.py``):

=========== ==================================================================================
root        ``errors``, ``config``, ``settings``, ``profiles``, ``text``, ``faces``: values every layer shares
``core``    data, losses, the model, training, evaluation, the IWAE bound
``figures`` the figures (style, the paper's, architecture, beyond the paper)
``store``   the run cache: entries, checks, runs, archives
``measures`` classifier, sample quality, comparisons, tables, literature, the paper's settings, trajectories
``widgets`` the in-browser explorers and their weight codec
``jobs``    the job loop, the Dask executor, sliced bounds, the sweep
``build``   run pages, the HTML book, the PDF, the Sphinx extension, the results ledger
``cli``     the ``vae-mnist`` command line
=========== ==================================================================================

Rules: every subpackage's ``__init__`` is its public face (``__all__``, names imported on first use)
and has no side effects; no name with a leading underscore is imported from another module; the root,
``store``, ``jobs``, ``build`` and ``cli`` import model code (Keras, TensorFlow) only inside the
functions that train or load, so ``import vae_mnist``, ``vae-mnist --help`` and ``list`` start no
TensorFlow. Importing the package changes nothing in the process: no import hooks, no environment
writes, no redirected output.
"""
from .errors import ConfigError, DataError, VaeMnistError
from .config import RunConfig
from .version import __version__

__all__ = ["ConfigError", "DataError", "RunConfig", "VaeMnistError", "load_model", "__version__"]


def load_model(path):
    """The whole :class:`vae_mnist.core.model.VAE` saved in a run's ``model.keras`` (Keras's safe mode).

    A run's ``encoder.keras`` and ``decoder.keras`` are plain functional Keras models: any Keras opens
    them with ``keras.models.load_model`` and no import of this package.
    """
    import keras

    from .core.model import VAE

    return keras.models.load_model(path, custom_objects={"vae_mnist>VAE": VAE}, safe_mode=True)
