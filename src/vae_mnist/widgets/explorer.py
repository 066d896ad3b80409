"""The book's interactive latent-space explorer: the decoder's weights, exported for the browser.

A chapter cell calls :func:`latent_pad` (2-D models: move a point over the test-set latent
means, Figure 4) or :func:`latent_sliders` (one slider per latent dimension) and displays the
HTML they return. That HTML carries everything inline: the plain-JavaScript decoder
(``static/explorer.js``) and the trained decoder's weights in base64, so the built page needs
no server, no kernel and no request to any other host, and works opened from disk.

The browser decodes ``z -> Dense(512) ReLU -> Dense(784) -> sigmoid`` in double precision from
the exported weights. How the weight matrices are stored is a trade between page size and
accuracy (:data:`FORMATS`): ``float16`` (2 bytes a weight), ``q24`` (24-bit integers with one
float32 scale per row, 3 bytes) or ``float32`` (4 bytes). :func:`export_decoder` with
``fmt="auto"`` measures each format's worst pixel error against the Keras decoder over a set of
probe points and ships the smallest one within :data:`TOLERANCE` / 2; :func:`numpy_decode` is the
same computation as the JavaScript, for tests and for that measurement.
"""
from __future__ import annotations

import base64
import html
import json
import math
from importlib import resources
from typing import Optional, Sequence

import numpy as np

from ..core.iwae import decoder_weights  # noqa: F401  (the one extraction of the decoder's weights)
from ..figures.style import pad_range

#: Weight formats, smallest first.
FORMATS = ("float16", "q24", "float32")
BYTES_PER_WEIGHT = {"float16": 2, "q24": 3, "float32": 4}
#: The explorer must match the Keras decoder within this, every pixel, at fixed latent points.
TOLERANCE = 1e-3
#: ``fmt="auto"`` ships the smallest format whose measured error is below TOLERANCE * SAFETY.
SAFETY = 0.5
Q24_MAX = 2 ** 23 - 1
#: Slider range (each latent coordinate, in prior standard deviations).
SLIDER_RANGE = 3.0


# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------
def to_base64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def from_base64(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=dtype)


def encode_matrix(w: np.ndarray, fmt: str) -> dict:
    """One weight matrix (rows = inputs) as a JSON-able dict in format ``fmt``."""
    w = np.asarray(w, dtype="<f4")
    if w.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {w.shape}")
    out = {"format": fmt, "shape": [int(w.shape[0]), int(w.shape[1])]}
    if fmt == "float32":
        out["data"] = to_base64(w)
    elif fmt == "float16":
        out["data"] = to_base64(w.astype("<f2"))
    elif fmt == "q24":
        peak = np.abs(w).max(axis=1)
        scale = np.where(peak > 0, peak / Q24_MAX, 1.0).astype("<f4")
        q = np.clip(np.rint(w / scale[:, None]), -Q24_MAX, Q24_MAX).astype("<i4")
        raw = q.reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3]  # little-endian: drop the top byte
        out["data"] = to_base64(raw)
        out["scale"] = to_base64(scale)
    else:
        raise ValueError(f"weight format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return out


def decode_matrix(m: dict) -> np.ndarray:
    """Inverse of :func:`encode_matrix`: the float32 matrix the browser reconstructs."""
    rows, cols = m["shape"]
    fmt = m["format"]
    if fmt == "float32":
        w = from_base64(m["data"], "<f4")
    elif fmt == "float16":
        w = from_base64(m["data"], "<f2").astype("<f4")
    elif fmt == "q24":
        b = from_base64(m["data"], np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        scale = from_base64(m["scale"], "<f4")
        w = (v.reshape(rows, cols).astype("<f4") * scale[:, None]).astype("<f4")
    else:
        raise ValueError(f"unknown weight format {fmt!r}")
    return np.asarray(w, dtype="<f4").reshape(rows, cols)


def dense_layers(weights, fmt: str) -> list:
    """``[(kernel, bias), ...]`` as the payload's ``layers`` (kernels in format ``fmt``, biases float32)."""
    return [{"kernel": encode_matrix(w, fmt), "bias": to_base64(np.asarray(b, dtype="<f4"))} for w, b in weights]


def numpy_forward(layers: list, x) -> np.ndarray:
    """A payload's Dense stack (ReLU between layers, linear output) in float64, as ``explorer.js``'s ``forward``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    for i, layer in enumerate(layers):
        w = decode_matrix(layer["kernel"]).astype(np.float64)
        b = from_base64(layer["bias"], "<f4").astype(np.float64)
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def numpy_decode(payload: dict, z) -> np.ndarray:
    """Pixel means from an exported payload, computed as ``explorer.js`` does (float64, float32 out)."""
    x = numpy_forward(payload["layers"], z)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def pick_format(make_payload, error_of, fmt: str = "auto", tolerance: float = TOLERANCE):
    """``(payload, error)``: ``make_payload(fmt)``, or with ``fmt="auto"`` the smallest format of
    :data:`FORMATS` whose measured ``error_of(payload)`` is below ``tolerance * SAFETY``."""
    candidates = FORMATS if fmt == "auto" else (fmt,)
    for candidate in candidates:
        if candidate not in FORMATS:
            raise ValueError(f"weight format must be auto or one of {', '.join(FORMATS)}, got {candidate!r}")
        payload = make_payload(candidate)
        error = float(error_of(payload))
        if fmt != "auto" or error < tolerance * SAFETY:
            break
    return payload, error


def keras_decode(model, z) -> np.ndarray:
    """The reference: the Keras model's own pixel means (float32)."""
    from ..core.evaluation import decode

    return decode(model, np.atleast_2d(np.asarray(z, dtype="float32")))


def probe_points(latent_dim: int, limit: float, n: int = 256, seed: int = 0) -> np.ndarray:
    """Latent points the explorer can reach: the origin, prior draws, uniform draws in the box and its corners."""
    rng = np.random.default_rng(seed)
    d = int(latent_dim)
    pts = [np.zeros((1, d)),
           np.clip(rng.standard_normal((n, d)), -limit, limit),
           rng.uniform(-limit, limit, (n, d)),
           limit * rng.choice([-1.0, 1.0], (min(n, 2 ** d), d))]
    return np.concatenate(pts).astype("float32")


def payload_nbytes(payload: dict) -> int:
    """Size of the payload as shipped in the page (JSON with base64 strings), in bytes."""
    return len(json.dumps(payload, separators=(",", ":")).encode())


def export_decoder(model, fmt: str = "auto", name: Optional[str] = None, run: Optional[str] = None,
                   limit: float = SLIDER_RANGE, tolerance: float = TOLERANCE, probes=None) -> dict:
    """The decoder of ``model`` as a JSON-able payload for ``explorer.js``.

    With ``fmt="auto"`` the smallest format of :data:`FORMATS` whose worst pixel error against
    the Keras decoder, over :func:`probe_points` (or ``probes``), is below ``tolerance * SAFETY``.
    The payload records the format, its measured ``max_abs_error`` and its size.
    """
    weights = decoder_weights(model)
    latent_dim = int(weights[0][0].shape[0])
    z = probe_points(latent_dim, limit) if probes is None else np.asarray(probes, dtype="float32")
    reference = keras_decode(model, z)
    payload, error = pick_format(
        lambda f: {"name": name or f"z{latent_dim}", "run": run, "latent_dim": latent_dim, "format": f,
                   "layers": dense_layers(weights, f)},
        lambda p: np.abs(numpy_decode(p, z) - reference).max(), fmt, tolerance)
    payload["max_abs_error"] = error
    payload["n_probes"] = int(len(z))
    payload["probe_limit"] = float(limit)
    payload["weights_nbytes"] = payload_nbytes({"layers": payload["layers"]})
    return payload


def scatter_payload(means: np.ndarray, labels, class_names: Optional[Sequence[str]] = None) -> dict:
    """Test-set latent means (float16) and labels (uint8) for the pad's background."""
    means = np.asarray(means, dtype="<f4")[:, :2]
    labels = np.asarray(labels).astype(np.uint8)
    names = list(class_names) if class_names is not None else [str(c) for c in range(int(labels.max()) + 1)]
    return {"n": int(len(means)), "points": to_base64(means.astype("<f2")), "labels": to_base64(labels),
            "class_names": names}


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
def library_js() -> str:
    """The explorer's JavaScript (``static/explorer.js``)."""
    return resources.files("vae_mnist.widgets").joinpath("static", "explorer.js").read_text(encoding="utf-8")


def script_tag(code: str) -> str:
    return "<script>\n" + code.replace("</", "<\\/") + "\n</script>"


STYLE = """<style>
.vae-explorer {display:flex; flex-wrap:wrap; gap:1.2em; align-items:flex-start; margin:1em 0;
  font-family: var(--pst-font-family-base, sans-serif); font-size: 0.9em;}
.vae-explorer canvas.vae-explorer-pad {border:1px solid #bbb; cursor:crosshair; touch-action:none;
  width:360px; max-width:90vw; height:auto;}
.vae-explorer canvas.vae-explorer-digit {width:168px; height:168px; image-rendering:pixelated;
  border:1px solid #bbb; background:#000;}
.vae-explorer .vae-explorer-z {font-family: monospace; margin-top:0.3em;}
.vae-explorer .vae-explorer-legend span {display:inline-block; margin-right:0.6em;}
.vae-explorer .vae-explorer-legend i {display:inline-block; width:0.8em; height:0.8em; margin-right:0.2em;
  vertical-align:middle;}
.vae-explorer .vae-explorer-sliders {display:grid; grid-template-columns: auto 11em 3.5em;
  column-gap:0.5em; row-gap:0.1em; align-items:center;}
.vae-explorer .vae-explorer-sliders input {width:11em; margin:0;}
.vae-explorer .vae-explorer-value {font-family: monospace; text-align:right;}
.vae-explorer button {margin:0.4em 0.4em 0 0; padding:0.15em 0.6em;}
</style>"""

_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


class ExplorerHTML:
    """HTML for a notebook cell (``_repr_html_``) with the payload it ships."""

    def __init__(self, html_text: str, payload: dict):
        self.html = html_text
        self.payload = payload

    @property
    def nbytes(self) -> int:
        return len(self.html.encode())

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def _head(payload: dict, include_library: bool) -> str:
    parts = [STYLE]
    if include_library:
        parts.append(script_tag(library_js()))
    parts.append(script_tag("window.vaeExplorer.register(" + json.dumps(payload, separators=(",", ":")) + ");"))
    return "\n".join(parts)


def latent_pad(model, means=None, labels=None, class_names=None, *, name: Optional[str] = None,
               run: Optional[str] = None, fmt: str = "auto", size: int = 360,
               element_id: Optional[str] = None, include_library: bool = True) -> ExplorerHTML:
    """A 2-D pad: moving the pointer over the latent plane decodes the point under it.

    ``means``/``labels`` (the test-set posterior means and digits, as in Figure 4) are drawn
    under the pad; its range covers them (:func:`vae_mnist.figures.style.pad_range`).
    """
    latent_dim = int(getattr(model, "latent_dim", decoder_weights(model)[0][0].shape[0]))
    if latent_dim != 2:
        raise ValueError(f"the latent pad needs a 2-D latent space, this model has z = {latent_dim}")
    R = pad_range(means)
    payload = export_decoder(model, fmt=fmt, name=name, run=run, limit=R)
    if means is not None and labels is not None:
        payload["scatter"] = scatter_payload(means, labels, class_names)
    pid = element_id or f"vae-explorer-{payload['name']}-pad"
    legend = ""
    if "scatter" in payload:
        legend = "<div class='vae-explorer-legend'>" + "".join(
            f"<span><i style='background:{_TAB10[i % 10]}'></i>{html.escape(str(n))}</span>"
            for i, n in enumerate(payload["scatter"]["class_names"])) + "</div>"
    body = f"""<div class="vae-explorer" id="{pid}" data-model="{html.escape(payload['name'])}">
<div><canvas class="vae-explorer-pad" width="{size}" height="{size}" tabindex="0"
 aria-label="latent plane: move the pointer (or use the arrow keys) to choose z"></canvas>{legend}</div>
{_DIGIT_PANEL}"""
    return _assemble(payload, body, "mountPad", pid, R, include_library)


_DIGIT_PANEL = """<div><canvas class="vae-explorer-digit" width="28" height="28" aria-label="decoded digit"></canvas>
<div class="vae-explorer-z" aria-live="polite"></div></div>
</div>"""


#: Shown only in print (``static/css/vae-book.css``): the widget prints as a still, with a link to it
#: in the HTML book (explorer.js points it at the page itself; ``vae_mnist.build.pdf`` at the published book).
PRINT_NOTE = ("<p class=\"vae-explorer-print\">Interactive in the HTML version of this book: "
              "<a class=\"vae-explorer-html-link\" href=\"#{pid}\">{pid}</a>. Printed here: the widget as it opens.</p>")


def _assemble(payload, body: str, mount_fn: str, pid: str, limit: float, include_library: bool) -> "ExplorerHTML":
    """Library and weights, the widget's markup, and the call that brings it to life."""
    mount = script_tag(f"window.vaeExplorer.{mount_fn}({json.dumps(pid)}, {json.dumps(payload['name'])}, "
                    f"{{range: {limit}}});")
    return ExplorerHTML("\n".join([_head(payload, include_library), print_note(body, pid), mount]), payload)


def print_note(body: str, pid: str) -> str:
    """A widget's markup (one ``<div>``) with :data:`PRINT_NOTE` as its last child."""
    body = body.rstrip()
    if not body.endswith("</div>"):
        raise ValueError("a widget's markup is one <div>")
    return body[: -len("</div>")] + PRINT_NOTE.format(pid=html.escape(pid)) + "\n</div>"


def latent_sliders(model, *, name: Optional[str] = None, run: Optional[str] = None, fmt: str = "auto",
                   limit: float = SLIDER_RANGE, step: float = 0.01, element_id: Optional[str] = None,
                   include_library: bool = True) -> ExplorerHTML:
    """One slider per latent dimension (each from -``limit`` to ``limit``, starting at 0)."""
    payload = export_decoder(model, fmt=fmt, name=name, run=run, limit=limit)
    d = payload["latent_dim"]
    pid = element_id or f"vae-explorer-{payload['name']}-sliders"
    rows = "\n".join(
        f"<label for='{pid}-s{i}'>z<sub>{i + 1}</sub></label>"
        f"<input type='range' class='vae-explorer-slider' id='{pid}-s{i}' min='{-limit}' max='{limit}' "
        f"step='{step}' value='0'><span class='vae-explorer-value'></span>"
        for i in range(d))
    body = f"""<div class="vae-explorer" id="{pid}" data-model="{html.escape(payload['name'])}">
<div><div class="vae-explorer-sliders">
{rows}
</div><button type="button" class="vae-explorer-reset">all zero</button><button type="button"
 class="vae-explorer-random">random z ~ N(0, I)</button></div>
{_DIGIT_PANEL}"""
    return _assemble(payload, body, "mountSliders", pid, limit, include_library)


def compare_formats(model, limit: float = SLIDER_RANGE) -> list:
    """For each format: bytes per weight, shipped kB of the weights, worst pixel error vs Keras."""
    rows = []
    for fmt in FORMATS:
        p = export_decoder(model, fmt=fmt, limit=limit)
        rows.append({"format": fmt, "bytes_per_weight": BYTES_PER_WEIGHT[fmt], "weights_kb": p["weights_nbytes"] / 1024,
                     "max_abs_error": p["max_abs_error"], "n_probes": p["n_probes"]})
    return rows


def describe(explorer: ExplorerHTML) -> dict:
    """Numbers a chapter quotes: format, bytes per weight, shipped kB, measured error."""
    p = explorer.payload
    return {"format": p["format"], "bytes_per_weight": BYTES_PER_WEIGHT[p["format"]],
            "weights_kb": p["weights_nbytes"] / 1024, "page_kb": explorer.nbytes / 1024,
            "max_abs_error": p["max_abs_error"], "n_probes": p["n_probes"], "probe_limit": p["probe_limit"]}


__all__ = ["FORMATS", "TOLERANCE", "export_decoder", "numpy_decode", "keras_decode", "encode_matrix",
           "decode_matrix", "latent_pad", "latent_sliders", "library_js", "describe", "compare_formats",
           "ExplorerHTML"]
