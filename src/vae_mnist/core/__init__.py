"""The model and what it is made of: data, losses, the VAE, training, evaluation, the IWAE bound.

Modules here import Keras and TensorFlow at their top, except :mod:`.data` (TensorFlow-free; Keras
only for its download fallback). The face below is lazy: ``import vae_mnist.core.data`` starts no TensorFlow.
"""
from ..faces import lazy_face

#: the public names of this layer and the module each lives in (imported on first use)
_HOMES = {
    "Dataset": "data",
    "VAE": "model",
    "active_units": "evaluation",
    "bernoulli_nll": "losses",
    "binarize_batch": "training",
    "binarize_test_images": "data",
    "bound_metrics": "evaluation",
    "bound_summary": "iwae",
    "build_decoder": "model",
    "build_encoder": "model",
    "build_vae": "model",
    "checksums": "data",
    "data_for": "data",
    "dataset": "data",
    "decode": "evaluation",
    "decoder_dense_layers": "iwae",
    "decoder_weights": "iwae",
    "encode": "evaluation",
    "encode_means": "evaluation",
    "ensure_extra_metrics": "evaluation",
    "folder_for": "data",
    "gaussian_nll": "losses",
    "iwae_bound": "iwae",
    "iwae_slices": "iwae",
    "kl_per_dimension": "evaluation",
    "kl_to_standard_normal": "losses",
    "load_data_for": "data",
    "load_dataset": "data",
    "load_from_keras": "data",
    "load_idx_folder": "data",
    "log_diag_gaussian": "losses",
    "log_standard_normal": "losses",
    "make_epoch_function": "training",
    "missing_extra_metrics": "evaluation",
    "negative_elbo": "evaluation",
    "one_data_set": "data",
    "parse_idx": "data",
    "posterior_mean_variance": "evaluation",
    "read_verified": "data",
    "reparameterize": "losses",
    "resolve_data_dir": "data",
    "run_data": "data",
    "seconds_per_epoch": "training",
    "store_per_image": "per_image",
    "train": "training",
}

__getattr__, __dir__, __all__ = lazy_face(__name__, _HOMES, ('data', 'evaluation', 'iwae', 'losses', 'model', 'per_image', 'training'))
