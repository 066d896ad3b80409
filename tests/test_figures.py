"""The paper's figures, drawn from an untrained tiny model: right content, right shapes, not blank."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from vae_mnist import figures
from vae_mnist.core.evaluation import decode, encode_means
from vae_mnist.core.model import build_vae


@pytest.fixture(scope="module")
def model2():
    return build_vae(latent_dim=2, hidden_dim=16, seed=0)


@pytest.fixture(scope="module")
def model3():
    return build_vae(latent_dim=3, hidden_dim=16, seed=0)


def rendered(fig) -> np.ndarray:
    return figures.figure_to_array(fig)[..., :3].astype(float)


def assert_not_blank(fig):
    pixels = rendered(fig)
    assert pixels.std() > 1.0, "figure renders as a blank image"


def texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_architecture_figures_read_the_keras_model(model3, part):
    net = getattr(model3, part)
    fig = figures.encoder_figure(model3) if part == "encoder" else figures.decoder_figure(model3)
    assert_not_blank(fig)
    rows = figures.layer_table(net)
    assert [r["name"] for r in rows] == [layer.name for layer in net.layers]
    assert sum(r["params"] for r in rows) == net.count_params()
    shown = texts(fig)
    for layer in net.layers:
        assert layer.name in shown
        assert f"{layer.count_params():,} parameters" in shown
    assert f"{net.count_params():,} parameters" in shown
    # the hidden width and latent size are read from the model, not typed in
    assert "(batch, 16)" in shown and "(batch, 3)" in shown
    # one arrow per edge of the graph
    edges = sum(len(r["inputs"]) for r in rows)
    assert len(fig.axes[0].patches) == len(rows) + edges


def test_encoder_figure_shows_both_heads(model3):
    rows = figures.layer_table(model3.encoder)
    heads = [r for r in rows if r["inputs"] == ["encoder_hidden"]]
    assert {r["name"] for r in heads} == {"z_mean", "z_log_var"}


@pytest.mark.parametrize("n", [1, 5, 20])
def test_manifold_grid_is_inverse_normal_cdf_of_a_linear_grid(n):
    grid = figures.manifold_grid(n)
    assert grid.shape == (n, n, 2)
    u = np.linspace(0, 1, n + 2)[1:-1]           # linearly spaced, 0 and 1 excluded
    q = np.array([NormalDist().inv_cdf(p) for p in u])
    np.testing.assert_allclose(grid[0, :, 0], q, rtol=0, atol=1e-12)   # z1 along a row
    np.testing.assert_allclose(grid[:, 0, 1], q[::-1], rtol=0, atol=1e-12)  # z2 upwards
    assert np.all(np.isfinite(grid))
    if n > 1:
        assert abs(grid[0, 0, 0] + grid[0, -1, 0]) < 1e-12  # symmetric about 0


def test_manifold_figure_decodes_every_grid_point(model2):
    n = 6
    fig = figures.latent_manifold_figure(model2, n=n)
    assert_not_blank(fig)
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape == (28 * n, 28 * n)
    expected = decode(model2, figures.manifold_grid(n).reshape(-1, 2))
    np.testing.assert_allclose(image, figures.tile_images(expected, n, n), atol=1e-6)
    # tile (i, j) is the decoding of grid point (i, j)
    i, j = 1, 4
    z = figures.manifold_grid(n)[i, j][None]
    np.testing.assert_allclose(image[28 * i:28 * i + 28, 28 * j:28 * j + 28], decode(model2, z).reshape(28, 28),
                               atol=1e-6)


def test_manifold_and_scatter_need_two_dimensions(model3):
    with pytest.raises(ValueError, match="2-D"):
        figures.latent_manifold_figure(model3, n=3)
    with pytest.raises(ValueError, match="2-D"):
        figures.latent_scatter_figure(model3, np.zeros((4, 784)), np.zeros(4))


def test_latent_scatter_plots_every_posterior_mean_by_class(model2):
    rng = np.random.default_rng(0)
    x = rng.random((300, 784)).astype("float32")
    y = np.arange(300) % 10
    fig = figures.latent_scatter_figure(model2, x, y, figures.MNIST_CLASSES)
    assert_not_blank(fig)
    ax = fig.axes[0]
    assert len(ax.collections) == 10
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(points) == 300
    means = encode_means(model2, x)
    for c, coll in enumerate(ax.collections):
        np.testing.assert_allclose(np.asarray(coll.get_offsets()), means[y == c], atol=1e-6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(figures.MNIST_CLASSES)
    colours = {tuple(np.round(coll.get_facecolor()[0][:3], 3)) for coll in ax.collections}
    assert len(colours) == 10


def test_prior_samples_are_seeded_grids(model3):
    fig = figures.prior_samples_figure(model3, n=100, seed=0)
    assert_not_blank(fig)
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape == (10 * 28 + 9 * 2, 10 * 28 + 9 * 2)
    again = np.asarray(figures.prior_samples_figure(model3, n=100, seed=0).axes[0].images[0].get_array())
    other = np.asarray(figures.prior_samples_figure(model3, n=100, seed=1).axes[0].images[0].get_array())
    np.testing.assert_array_equal(image, again)
    assert np.abs(image - other).max() > 1e-4
    z = np.random.default_rng(0).standard_normal((100, 3)).astype("float32")
    np.testing.assert_allclose(image[:28, :28], decode(model3, z[:1]).reshape(28, 28), atol=1e-6)
    with pytest.raises(ValueError):
        figures.prior_samples_figure(model3, n=0)


def test_prior_samples_grid_for_a_non_square_count(model3):
    image = np.asarray(figures.prior_samples_figure(model3, n=10, seed=0).axes[0].images[0].get_array())
    assert image.shape == (3 * 28 + 2 * 2, 4 * 28 + 3 * 2)  # 4 columns, 3 rows


def test_learning_curves_show_train_and_test_per_term():
    epochs = 4
    keys = ["loss", "reconstruction", "kl"]
    history = {k: list(np.linspace(200, 100, epochs) + i) for i, k in enumerate(keys)}
    history.update({f"test_{k}": list(np.linspace(210, 110, epochs) + i) for i, k in enumerate(keys)})
    fig = figures.learning_curves_figure(history)
    assert_not_blank(fig)
    assert len(fig.axes) == 3
    for ax, key in zip(fig.axes, keys):
        train, test = ax.get_lines()
        np.testing.assert_allclose(train.get_ydata(), history[key])
        np.testing.assert_allclose(test.get_ydata(), history[f"test_{key}"])
        np.testing.assert_allclose(train.get_xdata(), np.arange(1, epochs + 1))


def test_class_names():
    assert figures.class_names_for("mnist") == tuple("0123456789")
    assert figures.class_names_for("fashion-mnist")[9] == "Ankle boot"


def test_importing_figures_leaves_the_environment_alone():
    # An MPLBACKEND set here would be inherited by the book's Jupyter kernels and turn every
    # figure into "<Figure size ...>" text.
    import subprocess
    import sys

    code = "import os, vae_mnist.figures.paper; print(os.environ.get('MPLBACKEND', 'unset'))"
    env = {k: v for k, v in __import__('os').environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "unset"
