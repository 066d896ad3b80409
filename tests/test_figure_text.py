"""Every figure of the book is legible on the page: its smallest text, at the size the book shows
the figure, is at least the size of the book's caption text.

The book shows a figure at most ``figures.PAGE_WIDTH_PX`` wide (wider images are scaled down) and
sets captions at ``figures.CAPTION_PX``; tests/test_browser.py measures both on the built book.
Here every figure function draws from small untrained models or made-up numbers (the layout and
the text sizes do not depend on the values), and the figure is rendered as the book renders it
(PNG, tight bounding box, the figure's dpi).
"""
import numpy as np
import pytest

from vae_mnist.figures import beyond as A
from vae_mnist import figures as F
from vae_mnist.figures import trajectory as T
from vae_mnist.core.model import build_vae


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    history = {k: list(np.linspace(200, 100, 50)) for k in
               ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")}
    return dict(
        m2=build_vae(latent_dim=2, hidden_dim=512, seed=0),
        m20=build_vae(latent_dim=20, hidden_dim=512, seed=1),
        x=rng.uniform(0, 1, (200, 784)).astype("float32"),
        y=rng.integers(0, 10, 200),
        history=history,
        rows=[dict(latent_dim=z, neg_elbo=100 + 50 / z, iwae_nll=95 + 50 / z, iwae_stderr=0.3, iwae_k=1000,
                   active_units=min(z, 15)) for z in (2, 5, 10, 20, 50)],
        rng=rng,
    )


FIGURES = {
    "encoder (paper Fig. 1)": lambda d: F.encoder_figure(d["m20"]),
    "decoder (paper Fig. 2)": lambda d: F.decoder_figure(d["m2"]),
    "latent manifold (paper Fig. 3)": lambda d: F.latent_manifold_figure(d["m2"], n=20),
    "latent scatter, MNIST (paper Fig. 4)": lambda d: F.latent_scatter_figure(d["m2"], d["x"], d["y"], F.MNIST_CLASSES),
    "latent scatter, Fashion-MNIST": lambda d: F.latent_scatter_figure(d["m2"], d["x"], d["y"], F.FASHION_CLASSES),
    "prior samples (paper Figs. 5-7)": lambda d: F.prior_samples_figure(d["m20"], n=100),
    "learning curves": lambda d: F.learning_curves_figure(d["history"]),
    "learning curves with a title": lambda d: F.learning_curves_figure(d["history"], title="mnist-bernoulli-z20-e50"),
    "latent sizes on common axes": lambda d: F.latent_size_curves_figure({2: d["history"], 10: d["history"],
                                                                         20: d["history"]}),
    "reconstructions": lambda d: A.reconstructions_figure({"z = 2": d["m2"], "z = 20": d["m20"],
                                                          "Gaussian z = 20": d["m20"]}, d["x"], n=12),
    "interpolation": lambda d: A.interpolation_figure(d["m20"], d["x"][:4], d["x"][4:8], steps=10, title="z = 20"),
    "KL per dimension, z = 20": lambda d: A.kl_per_dimension_figure(d["rng"].uniform(0, 3, 20),
                                                                    d["rng"].uniform(0, 1, 20)),
    "KL per dimension, z = 50": lambda d: A.kl_per_dimension_figure(d["rng"].uniform(0, 3, 50),
                                                                    d["rng"].uniform(0, 1, 50), title="z = 50"),
    "latent size sweep": lambda d: A.sweep_figure(d["rows"]),
    "sample grids": lambda d: A.sample_grids_figure({"Bernoulli": d["m20"], "Gaussian": d["m20"],
                                                     "z = 2": d["m2"]}, n=64),
    "pixel histogram": lambda d: A.pixel_histogram_figure(d["x"]),
    "latent space over training": lambda d: T.small_multiples_figure(_trajectory(d, epochs=50)),
}


def _trajectory(d, epochs):
    from vae_mnist.measures.trajectory import GRID_N, Trajectory

    codes = d["rng"].normal(0, 2, (epochs + 1, 200, 2))
    return Trajectory(run="made-up", codes=codes, log_vars=np.zeros_like(codes), labels=d["y"].astype(np.uint8),
                      grids=np.zeros((epochs + 1, 28 * GRID_N, 28 * GRID_N), np.uint8), history={})


@pytest.mark.parametrize("name", list(FIGURES))
def test_smallest_text_is_at_least_the_caption_size_on_the_page(inputs, name):
    fig = FIGURES[name](inputs)
    width = F.shown_width_px(fig)
    on_page = F.smallest_text_on_page_px(fig)
    assert on_page >= F.CAPTION_PX, (
        f"{name}: smallest text {F.smallest_text_pt(fig):.1f} pt in a {width} px wide image is "
        f"{on_page:.1f} px on the page, below the caption's {F.CAPTION_PX} px")


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_background_is_opaque_white(inputs, name):
    """Opaque: in the book's dark mode the figure's dark text stays on its own white ground."""
    fig = FIGURES[name](inputs)
    assert tuple(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0), fig.get_facecolor()
    rgba = F.figure_to_array(fig)
    assert (rgba[..., 3] == 255).all(), f"{name}: {(rgba[..., 3] < 255).sum()} transparent pixels"


def test_readable_raises_small_text():
    fig = F.new_figure((4, 3))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([1, 2], [3, 4], label="a")
    ax.set_xlabel("x", fontsize=6)
    ax.legend(fontsize=5)
    ax.tick_params(labelsize=4)
    assert F.smallest_text_pt(fig) < F.MIN_FONT_PT
    F.readable(fig)
    assert F.smallest_text_pt(fig) >= F.MIN_FONT_PT
