"""Draw a digit, see its posterior: the encoder, exported for the browser like the decoder.

A chapter cell calls :func:`draw_pad` and displays the HTML it returns: a drawing pad where the
reader draws a digit with the mouse, a finger or a pen; the page brings the drawing to MNIST's form
(:func:`mnist_form`), runs the encoder
``x -> Dense(512) ReLU -> (mean, log-variance)`` in the browser (``static/drawpad.js``), and shows
the Gaussian posterior ``q(z|x)``: for a 2-D model its mean with the 1σ and 2σ ellipses over the
test-set codes, for larger ones each coordinate's mean and σ against the prior's; beside it the
decoder at the mean and a few samples ``z = mean + σ ε`` from the posterior.

The encoder's weights travel in the same formats as the decoder's (:mod:`vae_mnist.widgets.explorer`:
:func:`~vae_mnist.widgets.explorer.dense_layers`, :func:`~vae_mnist.widgets.explorer.pick_format`): with
``fmt="auto"`` the smallest format whose worst error on the posterior's mean and σ, against the
Keras encoder over a set of test images, is below half of :data:`TOLERANCE`.
:func:`numpy_encode` is the same computation as the JavaScript.
"""
from __future__ import annotations

import html
import json
from typing import Optional

import numpy as np

from . import explorer
from .explorer import BYTES_PER_WEIGHT, ExplorerHTML, script_tag

#: The browser's mean and σ must match the Keras encoder within this (latent units), every coordinate.
TOLERANCE = 1e-3
#: MNIST's form (LeCun et al.): the digit fitted into a BOX x BOX box, aspect kept, anti-aliased, in a
#: SIDE x SIDE frame with its centre of mass at CENTRE (pixel indices; measured on the test set: 14.0).
BOX, SIDE, CENTRE = 20, 28, 14.0
#: The drawing canvas (pixels) and the brush's width on it.
PAD_PX, BRUSH_PX = 280, 20
#: Samples from the posterior shown beside the reconstruction.
N_SAMPLES = 4


# --------------------------------------------------------------------------------------
# MNIST's form (the numpy twin of drawpad.js's mnistForm)
# --------------------------------------------------------------------------------------
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights of area-averaging resampling: output pixel o covers input [o*r, (o+1)*r)."""
    r = n_in / n_out
    a = np.zeros((n_out, n_in))
    for o in range(n_out):
        lo, hi = o * r, (o + 1) * r
        for k in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            a[o, k] = max(0.0, min(hi, k + 1) - max(lo, k)) / r
    return a


def mnist_form(ink) -> np.ndarray:
    """A drawing (2-D array of ink in [0, 1], any size) as MNIST made its digits: the ink's bounding
    box scaled (area averaging, aspect kept) so that its longer side is 20 pixels, placed in a 28 x 28
    frame with its centre of mass at pixel (14, 14) (rounded to whole pixels, kept inside the frame).
    Returns 784 values in [0, 1]; all zero for an empty drawing."""
    ink = np.asarray(ink, dtype=np.float64)
    rows, cols = np.nonzero(ink > 0)
    out = np.zeros((SIDE, SIDE))
    if len(rows) == 0:
        return out.reshape(-1)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    oh, ow = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    box = _area_matrix(h, oh) @ crop @ _area_matrix(w, ow).T
    ys, xs = np.mgrid[0:oh, 0:ow]
    mass = box.sum()
    cy, cx = (box * ys).sum() / mass, (box * xs).sum() / mass
    top = int(min(SIDE - oh, max(0, np.floor(CENTRE - cy + 0.5))))
    left = int(min(SIDE - ow, max(0, np.floor(CENTRE - cx + 0.5))))
    out[top:top + oh, left:left + ow] = box
    return np.clip(out, 0.0, 1.0).reshape(-1)


# --------------------------------------------------------------------------------------
# The encoder's weights
# --------------------------------------------------------------------------------------
def encoder_weights(model) -> list:
    """``[(kernel, bias), (heads_kernel, heads_bias)]``: the hidden layer, then the mean and log-variance
    heads side by side (columns ``:z`` the mean, ``z:`` the log-variance), float32."""
    enc = model.encoder
    hidden = enc.get_layer("encoder_hidden").get_weights()
    mean = enc.get_layer("z_mean").get_weights()
    log_var = enc.get_layer("z_log_var").get_weights()
    f = lambda a: np.asarray(a, dtype="<f4")  # noqa: E731
    return [(f(hidden[0]), f(hidden[1])),
            (f(np.concatenate([mean[0], log_var[0]], axis=1)), f(np.concatenate([mean[1], log_var[1]])))]


def numpy_encode(payload: dict, x):
    """``(mean, sigma)`` of q(z|x) from an exported encoder, computed as ``drawpad.js`` does (float64)."""
    out = explorer.numpy_forward(payload["layers"], x)
    d = payload["latent_dim"]
    return out[:, :d], np.exp(0.5 * out[:, d:])


def keras_encode(model, x):
    """The reference: the Keras encoder's ``(mean, sigma)`` (float64)."""
    from ..core.evaluation import encode

    mean, log_var = encode(model, np.atleast_2d(np.asarray(x, dtype="float32")))
    return mean.astype(np.float64), np.exp(0.5 * log_var.astype(np.float64))


def encoder_error(payload: dict, reference, x) -> float:
    """Worst absolute difference, over the images ``x`` and the coordinates, of the mean and of σ."""
    mean, sigma = numpy_encode(payload, x)
    return float(max(np.abs(mean - reference[0]).max(), np.abs(sigma - reference[1]).max()))


def export_encoder(model, images, fmt: str = "auto", name: Optional[str] = None, run: Optional[str] = None,
                   tolerance: float = TOLERANCE) -> dict:
    """The encoder of ``model`` as a JSON-able payload for ``drawpad.js``; its error is measured on ``images``."""
    weights = encoder_weights(model)
    d = int(weights[1][0].shape[1] // 2)
    x = np.asarray(images, dtype="float32").reshape(len(images), -1)
    reference = keras_encode(model, x)
    payload, error = explorer.pick_format(
        lambda f: {"name": name or f"z{d}", "run": run, "latent_dim": d, "format": f,
                   "layers": explorer.dense_layers(weights, f)},
        lambda p: encoder_error(p, reference, x), fmt, tolerance)
    payload["max_abs_error"] = error
    payload["n_probes"] = int(len(x))
    payload["weights_nbytes"] = explorer.payload_nbytes({"layers": payload["layers"]})
    return payload


def compare_formats(model, images) -> list:
    """For each format: bytes per weight, kB of the encoder's weights, worst error of mean and σ vs Keras."""
    rows = []
    for fmt in explorer.FORMATS:
        p = export_encoder(model, images, fmt=fmt)
        rows.append({"format": fmt, "bytes_per_weight": BYTES_PER_WEIGHT[fmt], "weights_kb": p["weights_nbytes"] / 1024,
                     "max_abs_error": p["max_abs_error"], "n_probes": p["n_probes"]})
    return rows


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
def library_js() -> str:
    from importlib import resources

    return resources.files("vae_mnist.widgets").joinpath("static", "drawpad.js").read_text(encoding="utf-8")


PAD_STYLE = """<style>
.vae-drawpad canvas.vae-drawpad-ink:focus-visible {outline:3px solid #1a73e8; outline-offset:2px;}
.vae-drawpad canvas.vae-drawpad-ink {border:1px solid #bbb; background:#000; cursor:crosshair; touch-action:none;
  width:224px; height:224px;}
.vae-drawpad canvas.vae-drawpad-seen, .vae-drawpad canvas.vae-drawpad-sample {width:84px; height:84px;
  image-rendering:pixelated; border:1px solid #bbb; background:#000; margin-right:4px;}
.vae-drawpad canvas.vae-drawpad-plane {border:1px solid #bbb; width:300px; max-width:90vw; height:auto;}
.vae-drawpad canvas.vae-drawpad-coords {border:1px solid #bbb; width:320px; max-width:90vw; height:auto;}
.vae-drawpad .vae-drawpad-row {display:flex; gap:4px; align-items:flex-end; flex-wrap:wrap;}
.vae-drawpad .vae-drawpad-label {font-size:0.85em; margin:0.2em 0; max-width:360px;}
</style>"""


def draw_pad(model, images, *, decoder: Optional[ExplorerHTML] = None, name: Optional[str] = None,
             run: Optional[str] = None, fmt: str = "auto", means=None, labels=None, class_names=None,
             element_id: Optional[str] = None, seed: int = 0, start=None) -> ExplorerHTML:
    """The drawing pad for ``model``; the encoder's error is measured on ``images`` (test images).

    ``decoder``: an explorer of the same model already on the page (:func:`vae_mnist.widgets.explorer.latent_pad`
    or :func:`~vae_mnist.widgets.explorer.latent_sliders`), whose decoder (and, for 2-D models, test-set codes
    and range) the pad reuses instead of shipping them twice. Without it the pad ships its own.
    ``start``: an image (784 values in [0, 1]) the pad opens with, so that the widget (and its still
    in print) shows a posterior before the reader draws; 8-bit, as MNIST's pixels are.
    """
    latent_dim = int(model.latent_dim)
    enc = export_encoder(model, images, fmt=fmt, name=name, run=run)
    dec_payload = decoder.payload if decoder is not None else None
    parts = [explorer.STYLE, PAD_STYLE]
    if dec_payload is None:
        if latent_dim == 2:
            dec = explorer.latent_pad(model, means, labels, class_names, name=name, run=run, fmt=fmt)
        else:
            dec = explorer.latent_sliders(model, name=name, run=run, fmt=fmt)
        dec_payload = dec.payload
        parts.append(script_tag(explorer.library_js()))
        parts.append(script_tag("window.vaeExplorer.register(" + json.dumps(dec_payload, separators=(",", ":")) + ");"))
    if dec_payload["name"] != enc["name"] or dec_payload["latent_dim"] != latent_dim:
        raise ValueError(f"the decoder explorer is model {dec_payload['name']!r}, the encoder {enc['name']!r}")
    R = explorer.pad_range(means) if latent_dim == 2 else 4.0
    pid = element_id or f"vae-drawpad-{enc['name']}"
    if latent_dim == 2:
        view = ("<div><canvas class='vae-drawpad-plane' width='360' height='360' role='img' "
                "aria-label='the posterior in the latent plane'></canvas><div class='vae-drawpad-label'>q(z|x) in "
                "the plane: mean (red cross), 1σ and 2σ ellipses, samples (dots), over the test-set codes</div></div>")
    else:
        view = (f"<div><canvas class='vae-drawpad-coords' width='360' height='{24 + 14 * latent_dim}' role='img' "
                f"aria-label='the posterior per coordinate'></canvas><div class='vae-drawpad-label'>q(z|x) per "
                f"coordinate: mean (red dot), ±1σ (thick) and ±2σ (thin) against the prior's ±1 and ±2 (grey)</div></div>")
    samples = "".join("<canvas class='vae-drawpad-sample' width='28' height='28' aria-label='posterior sample'></canvas>"
                      for _ in range(N_SAMPLES))
    body = f"""<div class="vae-explorer vae-drawpad" id="{pid}" data-model="{html.escape(enc['name'])}">
<div><canvas class="vae-drawpad-ink" width="{PAD_PX}" height="{PAD_PX}"
 aria-label="drawing pad: draw a digit with the mouse, a finger or a pen; from the keyboard, Space puts the pen down or lifts it, the arrow keys move it (with Shift, faster), Delete clears"></canvas>
<div><button type="button" class="vae-drawpad-clear">clear</button><button type="button"
 class="vae-drawpad-resample">new samples</button></div></div>
<div><div class="vae-drawpad-label">the encoder's input (MNIST's form)</div>
<canvas class="vae-drawpad-seen" width="28" height="28" aria-label="the drawing in MNIST's form"></canvas>
<div class="vae-drawpad-label">decoder at the mean</div>
<canvas class="vae-explorer-digit vae-drawpad-mean" width="28" height="28" aria-label="decoded posterior mean"></canvas>
<div class="vae-drawpad-label">{N_SAMPLES} samples z ~ q(z|x)</div><div class="vae-drawpad-row">{samples}</div>
<div class="vae-explorer-z vae-drawpad-readout" aria-live="polite"></div></div>
{view}
</div>"""
    opts = {"range": R, "pad": PAD_PX, "brush": BRUSH_PX, "box": BOX, "side": SIDE, "centre": CENTRE,
            "samples": N_SAMPLES, "seed": int(seed)}
    if start is not None:
        grey = np.clip(np.rint(255 * np.asarray(start, dtype=np.float64).reshape(-1)), 0, 255).astype(np.uint8)
        if grey.size != SIDE * SIDE:
            raise ValueError(f"start must be one {SIDE}x{SIDE} image, got {grey.size} values")
        opts["start"] = explorer.to_base64(grey)
    parts += [script_tag(library_js()),
              script_tag("window.vaeExplorer.registerEncoder(" + json.dumps(enc, separators=(",", ":")) + ");")]
    html_text = "\n".join(parts + [explorer.print_note(body, pid),
                                   script_tag(f"window.vaeExplorer.mountDrawPad({json.dumps(pid)}, "
                                           f"{json.dumps(enc['name'])}, {json.dumps(opts)});")])
    return ExplorerHTML(html_text, enc)


def describe(widget: ExplorerHTML) -> dict:
    """Numbers a chapter quotes: format, kB of the encoder's weights and of the whole widget, measured error."""
    p = widget.payload
    return {"format": p["format"], "bytes_per_weight": BYTES_PER_WEIGHT[p["format"]],
            "weights_kb": p["weights_nbytes"] / 1024, "page_kb": widget.nbytes / 1024,
            "max_abs_error": p["max_abs_error"], "n_probes": p["n_probes"], "tolerance": TOLERANCE}
