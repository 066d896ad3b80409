"""Figures 1 and 2 of the paper: architecture diagrams drawn from the Keras model itself.

:func:`architecture_figure` (``encoder_figure`` / ``decoder_figure``) walks the actual model's
layers (name, type, output shape, parameters); :func:`layer_table` is the same walk as rows.
"""
from __future__ import annotations

from typing import Optional

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import MIN_FONT_PT, PAGE_WIDTH_IN, TITLE_FONT_PT, new_figure, readable

def _shape_text(shape) -> str:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(_shape_text(s) for s in shape)
    dims = ["batch" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ")"


def layer_table(model) -> list:
    """One row per layer of a functional Keras model, in graph order.

    Each row: ``name``, ``type`` (class name), ``activation`` (or ``None``), ``output_shape``
    (text), ``params`` (int), ``inputs`` (names of the layers feeding it).
    """
    rows = []
    for layer in model.layers:
        try:
            out = layer.output.shape if not isinstance(layer.output, (list, tuple)) \
                else [t.shape for t in layer.output]
        except Exception:  # pragma: no cover - a layer never called
            out = getattr(layer, "output_shape", ())
        inputs = []
        for node in getattr(layer, "_inbound_nodes", []):
            for t in getattr(node, "input_tensors", []) or []:
                hist = getattr(t, "_keras_history", None)
                if hist is not None:
                    inputs.append(hist[0].name)
        act = getattr(layer, "activation", None)
        act_name = getattr(act, "__name__", None) if act is not None else None
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "activation": act_name,
            "output_shape": _shape_text(out),
            "params": int(layer.count_params()) if layer.built else 0,
            "inputs": inputs,
        })
    return rows


def architecture_figure(model, title: Optional[str] = None) -> Figure:
    """A box-and-arrow diagram of a functional Keras model, one box per layer.

    The boxes are laid out by graph depth (layers fed by the same layer sit side by side),
    each showing the layer's name, type and activation, output shape and parameter count,
    all read from ``model``; nothing is typed in.
    """
    rows = layer_table(model)
    depth = {}
    for r in rows:
        depth[r["name"]] = 1 + max((depth.get(i, -1) for i in r["inputs"]), default=-1)
    levels = {}
    for r in rows:
        levels.setdefault(depth[r["name"]], []).append(r)
    n_levels = len(levels)
    width = max(len(v) for v in levels.values())
    fig = new_figure((min(PAGE_WIDTH_IN, 3.0 * max(width, 1) + 0.6), 1.5 * n_levels + 0.9))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, max(width, 1))
    ax.set_ylim(-0.35, n_levels + 0.25)
    ax.axis("off")
    pos = {}
    box_w, box_h = 0.86, 0.72
    for d in sorted(levels):
        layer_rows = levels[d]
        k = len(layer_rows)
        for j, r in enumerate(layer_rows):
            cx = (max(width, 1) - k) / 2 + j + 0.5
            cy = n_levels - d - 0.5
            pos[r["name"]] = (cx, cy)
            is_input = r["type"] == "InputLayer"
            face = "#e8eef7" if is_input else "#fdf3e1"
            ax.add_patch(FancyBboxPatch((cx - box_w / 2, cy - box_h / 2), box_w, box_h,
                                        boxstyle="round,pad=0.02,rounding_size=0.06",
                                        facecolor=face, edgecolor="#333333", linewidth=1.2))
            kind = r["type"] + (f" ({r['activation']})" if r["activation"] not in (None, "linear") else "")
            ax.text(cx, cy + 0.21, r["name"], ha="center", va="center", fontsize=TITLE_FONT_PT,
                    fontweight="bold")
            ax.text(cx, cy + 0.03, kind, ha="center", va="center", fontsize=MIN_FONT_PT)
            ax.text(cx, cy - 0.14, f"output {r['output_shape']}", ha="center", va="center",
                    fontsize=MIN_FONT_PT, family="monospace")
            ax.text(cx, cy - 0.3, f"{r['params']:,} parameters", ha="center", va="center",
                    fontsize=MIN_FONT_PT, color="#444444")
    for r in rows:
        for src in r["inputs"]:
            if src in pos:
                (x0, y0), (x1, y1) = pos[src], pos[r["name"]]
                ax.add_patch(FancyArrowPatch((x0, y0 - box_h / 2), (x1, y1 + box_h / 2),
                                             arrowstyle="-|>", mutation_scale=14, color="#333333",
                                             linewidth=1.2, shrinkA=1, shrinkB=1))
    total = int(model.count_params())
    heading = title or model.name
    ax.text(max(width, 1) / 2, n_levels + 0.08, f"{heading}: {total:,} parameters",
            ha="center", va="center", fontsize=TITLE_FONT_PT)
    return readable(fig, layout=False)


def encoder_figure(model) -> Figure:
    """Paper Figure 1: the encoder of a VAE (``model.encoder``), or an encoder model itself."""
    enc = getattr(model, "encoder", model)
    return architecture_figure(enc, title=f"Encoder (z = {enc.outputs[0].shape[-1]})")


def decoder_figure(model) -> Figure:
    """Paper Figure 2: the decoder of a VAE (``model.decoder``), or a decoder model itself."""
    dec = getattr(model, "decoder", model)
    return architecture_figure(dec, title=f"Decoder (z = {dec.inputs[0].shape[-1]})")


