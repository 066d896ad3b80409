"""The in-browser explorers (decoder explorer, draw pad, latent trajectory), their weight codec and the
JavaScript in ``static/``. Each widget is HTML with its weights inlined; nothing is fetched.
"""
from ..faces import lazy_face

#: the public names of this layer and the module each lives in (imported on first use)
_HOMES = {
    "BYTES_PER_WEIGHT": "explorer",
    "ExplorerHTML": "explorer",
    "FORMATS": "explorer",
    "N_SAMPLES": "drawpad",
    "PAD_STYLE": "drawpad",
    "PRINT_NOTE": "explorer",
    "Q24_MAX": "explorer",
    "SAFETY": "explorer",
    "SLIDER_RANGE": "explorer",
    "STYLE": "explorer",
    "decode_matrix": "explorer",
    "dense_layers": "explorer",
    "draw_pad": "drawpad",
    "encode_matrix": "explorer",
    "encoder_error": "drawpad",
    "encoder_weights": "drawpad",
    "export_decoder": "explorer",
    "export_encoder": "drawpad",
    "from_base64": "explorer",
    "keras_decode": "explorer",
    "keras_encode": "drawpad",
    "latent_pad": "explorer",
    "latent_sliders": "explorer",
    "mnist_form": "drawpad",
    "numpy_decode": "explorer",
    "numpy_encode": "drawpad",
    "numpy_forward": "explorer",
    "payload_nbytes": "explorer",
    "pick_format": "explorer",
    "png_data_uri": "trajectory",
    "print_note": "explorer",
    "probe_points": "explorer",
    "scatter_payload": "explorer",
    "script_tag": "explorer",
    "to_base64": "explorer",
    "trajectory_widget": "trajectory",
}

__getattr__, __dir__, __all__ = lazy_face(__name__, _HOMES, ('drawpad', 'explorer', 'trajectory'))
