"""Every figure of the book: the style, the paper's figures, the architecture diagrams, the figures beyond
the paper. Functions take models or arrays and return Matplotlib figures; nothing here trains or caches.
"""
from ..faces import lazy_face

#: the public names of this layer and the module each lives in (imported on first use)
_HOMES = {
    "CAPTION_PX": "style",
    "DPI": "style",
    "FASHION_CLASSES": "paper",
    "GRIDS": "paper",
    "IMAGE_SIDE": "paper",
    "KERAS_SPAN": "paper",
    "MIN_FONT_PT": "style",
    "MNIST_CLASSES": "paper",
    "PAGE_WIDTH_IN": "style",
    "PAGE_WIDTH_PX": "style",
    "TITLE_FONT_PT": "style",
    "architecture_figure": "architecture",
    "class_names_for": "paper",
    "decoder_figure": "architecture",
    "encoder_figure": "architecture",
    "figure_to_array": "paper",
    "grid_coverage": "paper",
    "interpolation_codes": "beyond",
    "interpolation_figure": "beyond",
    "kl_per_dimension_figure": "beyond",
    "latent_manifold_figure": "paper",
    "latent_scatter_figure": "paper",
    "latent_size_curves_figure": "paper",
    "layer_table": "architecture",
    "learning_curves_figure": "paper",
    "manifold_grid": "paper",
    "new_figure": "style",
    "pad_range": "style",
    "pixel_histogram_figure": "beyond",
    "prior_sample_images": "paper",
    "prior_samples_figure": "paper",
    "readable": "style",
    "reconstructions_figure": "beyond",
    "sample_grids_figure": "beyond",
    "shown_epochs": "trajectory",
    "shown_width_px": "style",
    "side_by_side": "paper",
    "small_multiples_figure": "trajectory",
    "smallest_text_on_page_px": "style",
    "smallest_text_pt": "style",
    "sweep_figure": "beyond",
    "tile_images": "paper",
}

__getattr__, __dir__, __all__ = lazy_face(__name__, _HOMES, ('architecture', 'beyond', 'paper', 'style', 'trajectory'))
