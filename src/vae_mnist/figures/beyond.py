"""Figures of the beyond-the-paper chapters (matplotlib only; each function returns a Figure).

* :func:`reconstructions_figure`: test images beside their reconstructions, one row per model;
* :func:`interpolation_figure`: walks in latent space between pairs of test images;
* :func:`kl_per_dimension_figure`: KL per latent dimension and the variance of the posterior
  means (the active-unit criterion);
* :func:`sweep_figure`: test negative ELBO and IWAE negative log-likelihood against latent size;
* :func:`sample_grids_figure`: prior samples of several models side by side.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

from .paper import prior_sample_images, tile_images
from .style import MIN_FONT_PT, PAGE_WIDTH_IN, TITLE_FONT_PT, new_figure, readable

from matplotlib.figure import Figure  # noqa: E402  (after figures has chosen the backend)


def reconstructions_figure(models: Mapping[str, object], x, n: int = 10) -> Figure:
    """The first ``n`` images of ``x`` (top row) and each model's reconstruction of them.

    A reconstruction is the decoded posterior mean, sigmoid(l(E[z|x])): the deterministic
    path through the code, without sampling noise. ``models`` maps a row label to a model.
    """
    from ..core.evaluation import decode, encode_means

    x = np.asarray(x, dtype="float32")[: int(n)]
    rows = [("test image", x)] + [(label, decode(m, encode_means(m, x))) for label, m in models.items()]
    # page width: the image strips take what the row labels leave
    label_in = 0.3 + 0.085 * MIN_FONT_PT * max(len(label) for label, _ in rows) / 11
    strip_in = PAGE_WIDTH_IN - label_in - 0.1
    row_in = strip_in / len(x) * 1.08
    fig = new_figure((PAGE_WIDTH_IN, row_in * len(rows) + 0.15))
    for r, (label, images) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, r + 1)
        ax.imshow(tile_images(images, 1, len(x), pad=2), cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=MIN_FONT_PT)
    fig.subplots_adjust(left=label_in / PAGE_WIDTH_IN, right=0.99, top=0.99, bottom=0.01, hspace=0.08)
    return readable(fig, layout=False)


def interpolation_codes(model, x_a, x_b, steps: int = 10) -> np.ndarray:
    """Codes on the straight line from E[z|x_a] to E[z|x_b], ``steps`` points per pair, shape (pairs, steps, z)."""
    from ..core.evaluation import encode_means

    za = encode_means(model, np.asarray(x_a, dtype="float32"))
    zb = encode_means(model, np.asarray(x_b, dtype="float32"))
    t = np.linspace(0.0, 1.0, int(steps))[None, :, None]
    return (1.0 - t) * za[:, None, :] + t * zb[:, None, :]


def interpolation_figure(model, x_a, x_b, steps: int = 10, title: Optional[str] = None) -> Figure:
    """One row per pair: image a, the decoded walk from E[z|a] to E[z|b] (``steps`` codes), image b."""
    from ..core.evaluation import decode

    x_a = np.asarray(x_a, dtype="float32")
    x_b = np.asarray(x_b, dtype="float32")
    codes = interpolation_codes(model, x_a, x_b, steps)
    pairs = len(x_a)
    walk = decode(model, codes.reshape(-1, codes.shape[-1])).reshape(pairs, int(steps), -1)
    blank = np.ones((pairs, 1, x_a.shape[1]), dtype="float32")
    rows = np.concatenate([x_a[:, None], blank, walk, blank, x_b[:, None]], axis=1)
    cols = rows.shape[1]
    canvas = tile_images(rows.reshape(-1, x_a.shape[1]), pairs, cols, pad=2)
    tile = min(0.6, PAGE_WIDTH_IN / cols)  # inches per image: the whole walk fits the page's width
    fig = new_figure((tile * cols, tile * 1.03 * pairs + (0.4 if title else 0.1)))
    ax = fig.add_axes([0, 0, 1, 0.9 if title else 1])
    ax.imshow(canvas, cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=TITLE_FONT_PT)
    return readable(fig, layout=False)


def kl_per_dimension_figure(kl_per_dim, mean_variance, threshold: float = 0.01,
                            title: Optional[str] = None) -> Figure:
    """Two panels over latent dimensions sorted by KL: the KL (nats) and Var_x(E[z_u|x]) (log scale).

    A dimension is active when the variance of its posterior mean over the test set exceeds
    ``threshold`` (Burda et al., 2016); active dimensions are drawn dark, inactive light.
    """
    kl = np.asarray(kl_per_dim, dtype="float64")
    var = np.asarray(mean_variance, dtype="float64")
    order = np.argsort(-kl)
    active = var[order] > threshold
    colors = np.where(active, "tab:blue", "lightgray")
    pos = np.arange(len(kl))
    fig = new_figure((min(PAGE_WIDTH_IN, 0.28 * len(kl) + 2.5) if len(kl) > 8 else 4.5, 5.2))
    ax1 = fig.add_subplot(2, 1, 1)
    ax1.bar(pos, kl[order], color=colors)
    ax1.set_ylabel("KL (nats)")
    # dimension numbers under the lower panel's bars; at most about 12, so that they stay legible
    step = max(1, int(math.ceil(len(kl) / 12)))
    ax1.set_xticks(pos[::step], [str(i) for i in order[::step]])
    ax1.tick_params(labelbottom=False)
    ax1.grid(axis="y", alpha=0.3)
    ax2 = fig.add_subplot(2, 1, 2, sharex=ax1)
    ax2.bar(pos, np.maximum(var[order], 1e-8), color=colors)
    ax2.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax2.set_yscale("log")
    ax2.set_ylabel(r"Var$_x$ E[$z_u$|x]")
    ax2.set_xlabel("latent dimension u (sorted by KL)")
    ax2.legend(loc="lower right", bbox_to_anchor=(1.0, 0.98), frameon=False, borderaxespad=0.1)
    ax2.grid(axis="y", alpha=0.3)
    ax1.set_title(title or f"{int(active.sum())} of {len(kl)} dimensions active", fontsize=TITLE_FONT_PT)
    return readable(fig)


def _latent_size_axis(ax, z, ylabel: str) -> None:
    """A log-scaled latent-size x axis ticked at the sizes run, grid and legend."""
    ax.set_xscale("log")
    ax.set_xticks(z, [str(int(v)) for v in z])
    ax.minorticks_off()
    ax.set_xlabel("latent size z")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def sweep_figure(rows: Sequence[dict]) -> Figure:
    """Top: test negative ELBO and IWAE NLL (± 2 standard errors) against latent size.
    Bottom: active units against latent size, with the line "all dimensions active"."""
    rows = sorted(rows, key=lambda r: r["latent_dim"])
    z = np.array([r["latent_dim"] for r in rows], dtype="float64")
    fig = new_figure((PAGE_WIDTH_IN, 6.4))
    ax = fig.add_subplot(2, 1, 1)
    ax.plot(z, [r["neg_elbo"] for r in rows], "o-", label="test negative ELBO")
    iw = [(zz, r["iwae_nll"], r["iwae_stderr"], r["iwae_k"]) for zz, r in zip(z, rows) if r.get("iwae_nll") is not None]
    if iw:
        ks = sorted({int(t[3]) for t in iw})
        ax.errorbar([t[0] for t in iw], [t[1] for t in iw], yerr=[2 * t[2] for t in iw], fmt="s--", capsize=3,
                    label=f"IWAE NLL, k = {', '.join(map(str, ks))} (± 2 s.e.)")
    _latent_size_axis(ax, z, "nats per test image")
    ax2 = fig.add_subplot(2, 1, 2)
    au = [(zz, r["active_units"]) for zz, r in zip(z, rows) if r.get("active_units") is not None]
    ax2.plot(z, z, ":", color="gray", label="all dimensions active")
    if au:
        ax2.plot([a[0] for a in au], [a[1] for a in au], "o-", color="tab:green", label="active units")
    ax2.set_yscale("log")
    ax2.set_yticks(z, [str(int(v)) for v in z])
    _latent_size_axis(ax2, z, "active units")
    return readable(fig)


def sample_grids_figure(models: Mapping[str, object], n: int = 64, seed: int = 0) -> Figure:
    """Prior samples (decoded pixel means) of several models side by side, the same codes' seed for each."""
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    side = min(3.6, (PAGE_WIDTH_IN - 0.2) / len(models))
    fig = new_figure((side * len(models) + 0.2, side * rows / cols + 0.45))
    for i, (label, model) in enumerate(models.items()):
        ax = fig.add_subplot(1, len(models), i + 1)
        ax.imshow(tile_images(prior_sample_images(model, n, seed), rows, cols, pad=2), cmap="Greys_r",
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(label, fontsize=TITLE_FONT_PT)
        ax.axis("off")
    return readable(fig)


def pixel_histogram_figure(x, bins: int = 50) -> Figure:
    """Histogram of grey levels over ``x`` (log counts): MNIST pixels are mostly exactly 0 or near 1."""
    x = np.asarray(x).ravel()
    fig = new_figure((5.5, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(x, bins=bins, range=(0, 1), color="tab:gray")
    ax.set_yscale("log")
    ax.set_xlabel("pixel value")
    ax.set_ylabel("count (log scale)")
    ax.grid(alpha=0.3)
    return readable(fig)


__all__ = ["reconstructions_figure", "interpolation_figure", "interpolation_codes", "kl_per_dimension_figure",
           "sweep_figure", "sample_grids_figure", "pixel_histogram_figure"]
