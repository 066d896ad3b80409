"""Every figure of the paper, drawn from trained (or untrained) models with matplotlib only.

Each function takes models or arrays and returns a ``matplotlib.figure.Figure``; the book's
chapters, the run template and the CLI call them, so there is one drawing of each figure.

* Figures 1 and 2: :mod:`vae_mnist.figures.architecture`,
  drawn by walking the actual Keras model's layers (name, type, output shape, parameters).
* Figure 3: :func:`latent_manifold_figure`, decoded images over a Gaussian-quantile grid (the
  paper's text) or a linear grid (the keras-team example), :func:`grid_coverage`.
* :func:`side_by_side`, figures of this module next to each other (comparisons).
* Figure 4: :func:`latent_scatter_figure`, test-set posterior means coloured by class.
* Figures 5-7: :func:`prior_samples_figure`, decoded samples z ~ N(0, I).
* :func:`learning_curves_figure`, the training history of a run.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..core.data import CLASS_NAMES
from .style import MIN_FONT_PT, PAGE_WIDTH_IN, TITLE_FONT_PT, new_figure, readable

IMAGE_SIDE = 28
MNIST_CLASSES = tuple(CLASS_NAMES["mnist"])
FASHION_CLASSES = tuple(CLASS_NAMES["fashion-mnist"])


def class_names_for(dataset: str) -> tuple:
    """Readable class names of a data set (``mnist`` digits or ``fashion-mnist`` garments)."""
    return tuple(CLASS_NAMES[dataset])


# --------------------------------------------------------------------------------------
# Image grids
# --------------------------------------------------------------------------------------
def tile_images(images, n_rows: int, n_cols: int, pad: int = 0, fill: float = 1.0) -> np.ndarray:
    """Tile ``n_rows * n_cols`` flattened 28x28 images (row-major) into one 2-D array."""
    images = np.asarray(images, dtype="float32").reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    s = IMAGE_SIDE + pad
    canvas = np.full((n_rows * s - pad, n_cols * s - pad), fill, dtype="float32")
    for i, img in enumerate(images[: n_rows * n_cols]):
        r, c = divmod(i, n_cols)
        canvas[r * s: r * s + IMAGE_SIDE, c * s: c * s + IMAGE_SIDE] = img
    return canvas


#: The grids of Figure 3: ``gaussian`` (the paper's text, after Kingma and Welling: a linear grid on
#: (0, 1) pushed through the inverse Gaussian CDF) and ``linear`` (the keras-team example of 2018:
#: ``np.linspace(-span, span, n)`` in z itself).
GRIDS = ("gaussian", "linear")
#: The half-width of the keras-team example's linear grid (``np.linspace(-4, 4, n)``).
KERAS_SPAN = 4.0


def manifold_grid(n: int = 20, grid: str = "gaussian", span: float = KERAS_SPAN) -> np.ndarray:
    """The latent points of Figure 3, shape ``(n, n, 2)``.

    ``grid="gaussian"``: ``n`` linearly spaced points on (0, 1), excluding 0 and 1
    (``linspace(0, 1, n + 2)[1:-1]``), pushed through the inverse CDF of N(0, 1).
    ``grid="linear"``: ``linspace(-span, span, n)`` in z (``span`` is ignored otherwise).
    Row ``i`` (top to bottom) has z2 decreasing so the picture reads like a plot with z2 upwards;
    column ``j`` has z1 increasing.
    """
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if grid == "gaussian":
        u = np.linspace(0.0, 1.0, int(n) + 2)[1:-1]
        q = np.array([NormalDist().inv_cdf(float(p)) for p in u])
    elif grid == "linear":
        if not float(span) > 0:
            raise ValueError(f"span must be positive, got {span}")
        q = np.linspace(-float(span), float(span), int(n))
    else:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {grid!r}")
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1, z2], axis=-1)


def grid_coverage(codes, n: int = 20, grid: str = "gaussian", span: float = KERAS_SPAN) -> dict:
    """How a Figure 3 grid sits over a set of 2-D codes (e.g. the test set's posterior means).

    ``codes_inside``: share of the codes inside the square spanned by the outermost tile centres;
    ``empty_tiles``: share of the tiles that are the nearest grid point of no code at all (tiles
    drawn where no code lies); ``half_width``: the largest |z| of a tile centre.
    """
    codes = np.asarray(codes, dtype="float64").reshape(-1, 2)
    q = manifold_grid(n, grid, span)[0, :, 0]
    half = float(np.abs(q).max())
    inside = np.all(np.abs(codes) <= half, axis=1)
    # nearest tile centre along each axis (the grid is a product of the same 1-D points)
    idx = [np.abs(codes[:, a, None] - q[None, :]).argmin(axis=1) for a in (0, 1)]
    hit = np.zeros((len(q), len(q)), dtype=bool)
    hit[idx[0], idx[1]] = True
    return {"codes_inside": float(inside.mean()), "empty_tiles": float(1.0 - hit.mean()), "half_width": half}


def latent_manifold_figure(model, n: int = 20, grid: str = "gaussian", span: float = KERAS_SPAN) -> Figure:
    """Paper Figure 3: the decoded image at every point of :func:`manifold_grid` of a 2-D model.

    ``grid`` and ``span`` choose the grid (see :func:`manifold_grid`): the paper's Gaussian
    quantiles by default, or the keras-team example's linear grid over [-span, span].
    """
    from ..core.evaluation import decode

    if int(model.latent_dim) != 2:
        raise ValueError(f"the manifold figure needs a 2-D latent space, this model has z = {model.latent_dim}")
    points = manifold_grid(n, grid, span)
    images = decode(model, points.reshape(-1, 2))
    canvas = tile_images(images, n, n)
    fig = new_figure((PAGE_WIDTH_IN * 0.95, PAGE_WIDTH_IN * 0.95))
    ax = fig.add_subplot(1, 1, 1)
    q = points[0, :, 0]
    # The Gaussian grid is not uniform in z: label the tiles' centres with their z values.
    ax.imshow(canvas, cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
    ticks = np.arange(n) * IMAGE_SIDE + IMAGE_SIDE / 2 - 0.5
    step = max(1, n // 5)
    idx = list(range(0, n, step))
    ax.set_xticks(ticks[idx], [f"{q[i]:.2f}" for i in idx])
    ax.set_yticks(ticks[idx], [f"{points[i, 0, 1]:.2f}" for i in idx])
    kind = ("Gaussian quantiles of a linear grid" if grid == "gaussian"
            else f"linear grid over [{-float(span):g}, {float(span):g}]")
    ax.set_xlabel(f"$z_1$ ({kind})")
    ax.set_ylabel("$z_2$")
    return readable(fig)


def side_by_side(figs: Sequence[Figure], titles: Optional[Sequence[str]] = None, width: float = 12.0,
                 dpi: int = 110) -> Figure:
    """Figures drawn by this module, rendered and placed next to each other in one figure.

    For comparisons (one grid against another, one model against another) without a second
    drawing of either figure: each is rendered as it is and shown as an image panel.
    """
    figs = list(figs)
    if not figs:
        raise ValueError("side_by_side needs at least one figure")
    arrays = []
    for f in figs:
        f.set_dpi(dpi)
        arrays.append(figure_to_array(f))
    height = max(a.shape[0] / a.shape[1] for a in arrays) * width / len(arrays)
    out = new_figure((width, height + (0.4 if titles else 0.0)))
    for k, a in enumerate(arrays):
        ax = out.add_subplot(1, len(arrays), k + 1)
        ax.imshow(a, interpolation="lanczos")
        ax.axis("off")
        if titles:
            ax.set_title(titles[k], fontsize=11)
    out.tight_layout()
    return out


def latent_scatter_figure(model, x, y, class_names: Optional[Sequence[str]] = None,
                          max_points: Optional[int] = None) -> Figure:
    """Paper Figure 4: the posterior means E[z|x] of ``x`` (2-D model) coloured by label ``y``."""
    from ..core.evaluation import encode_means

    if int(model.latent_dim) != 2:
        raise ValueError(f"the latent scatter needs a 2-D latent space, this model has z = {model.latent_dim}")
    x = np.asarray(x)
    y = np.asarray(y).astype(int)
    if max_points is not None:
        x, y = x[:max_points], y[:max_points]
    means = encode_means(model, x)
    names = list(class_names) if class_names is not None else [str(c) for c in range(int(y.max()) + 1)]
    fig = new_figure((PAGE_WIDTH_IN, 5.6))
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab10"]
    for c in range(len(names)):
        sel = y == c
        if sel.any():
            ax.scatter(means[sel, 0], means[sel, 1], s=3, alpha=0.6, color=cmap(c % 10), label=names[c],
                       rasterized=True)
    ax.set_xlabel("$z_1$ (posterior mean)")
    ax.set_ylabel("$z_2$ (posterior mean)")
    ax.set_aspect("equal", adjustable="datalim")
    leg = ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=4, frameon=False,
                    title="class")
    for h in leg.legend_handles:
        h.set_alpha(1)
    return readable(fig)


def prior_sample_images(model, n: int = 100, seed: int = 0) -> np.ndarray:
    """``n`` decoded pixel-mean images of z ~ N(0, I), seeded with numpy (shape ``(n, 784)``)."""
    from ..core.evaluation import decode

    z = np.random.default_rng(seed).standard_normal((int(n), int(model.latent_dim))).astype("float32")
    return decode(model, z)


def prior_samples_figure(model, n: int = 100, seed: int = 0) -> Figure:
    """Paper Figures 5-7: a grid of ``n`` decoded samples from the prior N(0, I) (seeded)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    images = prior_sample_images(model, n, seed)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    canvas = tile_images(images, rows, cols, pad=2, fill=1.0)
    side = min(7.5, 0.55 * cols + 0.5)
    fig = new_figure((side, side * rows / cols))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(canvas, cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    return readable(fig, layout=False)


def learning_curves_figure(history: dict, title: Optional[str] = None) -> Figure:
    """Train and test loss (negative ELBO), reconstruction and KL per epoch of a run's history."""
    panels = [("loss", "negative ELBO"), ("reconstruction", "reconstruction"), ("kl", "KL")]
    fig = new_figure((PAGE_WIDTH_IN, 3.1 + (0.35 if title else 0)))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        marker = "o" if len(epochs) < 3 else None
        ax.plot(epochs, history[key], label="train", marker=marker)
        if f"test_{key}" in history:
            ax.plot(epochs, history[f"test_{key}"], label="test", marker=marker, linestyle="--")
        ax.set_title(label, fontsize=TITLE_FONT_PT)
        ax.set_xlabel("epoch")
        if i == 0:
            ax.set_ylabel("nats per image")
            ax.legend()
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4, integer=True))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    if title:
        fig.suptitle(title, fontsize=MIN_FONT_PT)
    return readable(fig)


def latent_size_curves_figure(histories, key: str = "test_loss", train_key: Optional[str] = "loss") -> Figure:
    """Test negative ELBO per epoch of several runs on common axes, one colour per latent size.

    In the style of Kingma and Welling's Figure 2 (the bound during training for several latent
    sizes): ``histories`` maps a label (a latent size, or any text) to a run's history; the test
    curve is solid, the training curve (``train_key``, averaged over each epoch) dashed in the same
    colour. The epoch axis is logarithmic when there are more than two epochs, so that the first
    epochs and the last ones are both visible.
    """
    fig = new_figure((PAGE_WIDTH_IN, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab10"]
    n_epochs = 1
    finals = []
    for i, (label, history) in enumerate(histories.items()):
        name = f"z = {label}" if isinstance(label, (int, np.integer)) else str(label)
        test = np.asarray(history[key], dtype=float)
        epochs = np.arange(1, len(test) + 1)
        n_epochs = max(n_epochs, len(test))
        marker = "o" if len(test) < 3 else None
        ax.plot(epochs, test, color=cmap(i % 10), marker=marker, linewidth=2, label=f"{name}, test")
        finals.append(test[-1])
        if train_key and train_key in history:
            ax.plot(epochs, history[train_key], color=cmap(i % 10), marker=marker, linestyle="--",
                    linewidth=1.2, label=f"{name}, train")
    if n_epochs > 2:
        ax.set_xscale("log")
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if t <= n_epochs]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        # the first epoch's loss is far above the rest: keep the later epochs readable
        later = [v for h in histories.values() for k in (key, train_key) if k and k in h
                 for v in h[k][1:]]
        if later:
            lo, hi = min(later), max(later)
            pad = 0.06 * (hi - lo) + 1e-9
            ax.set_ylim(lo - pad, hi + pad)
    else:
        ax.set_xticks(range(1, n_epochs + 1))
    ax.set_xlabel("epoch" + (" (log scale)" if n_epochs > 2 else ""))
    ax.set_ylabel("negative ELBO (nats per image)")
    ax.grid(alpha=0.3)
    ax.legend(ncol=2 if len(histories) > 2 else 1)
    return readable(fig)


def figure_to_array(fig: Figure) -> np.ndarray:
    """The rendered RGBA pixels of a figure (for tests and blank-image checks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())
