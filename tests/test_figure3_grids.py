"""Figure 3 both ways: the paper's Gaussian-quantile grid and the keras-team example's linear grid."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from vae_mnist import figures
from vae_mnist.core.evaluation import decode
from vae_mnist.core.model import build_vae


@pytest.fixture(scope="module")
def model2():
    return build_vae(latent_dim=2, hidden_dim=16, seed=0)


@pytest.mark.parametrize("n", [1, 2, 30])
def test_linear_grid_is_the_keras_examples_linspace(n):
    grid = figures.manifold_grid(n, grid="linear", span=4)
    q = np.linspace(-4, 4, n)                       # grid_x = np.linspace(-4, 4, n) in the example
    np.testing.assert_allclose(grid[0, :, 0], q, atol=0)
    np.testing.assert_allclose(grid[:, 0, 1], q[::-1], atol=0)   # grid_y = np.linspace(-4, 4, n)[::-1]


def test_default_grid_is_still_the_gaussian_one():
    np.testing.assert_array_equal(figures.manifold_grid(7), figures.manifold_grid(7, grid="gaussian", span=99))


@pytest.mark.parametrize("kwargs, message", [({"grid": "uniform"}, "grid must be one of"),
                                             ({"grid": "linear", "span": 0}, "span must be positive")])
def test_bad_grid_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        figures.manifold_grid(5, **kwargs)


def test_linear_manifold_figure_decodes_the_linear_grid(model2):
    n = 5
    fig = figures.latent_manifold_figure(model2, n=n, grid="linear", span=3)
    image = np.asarray(fig.axes[0].images[0].get_array())
    expected = decode(model2, figures.manifold_grid(n, "linear", 3).reshape(-1, 2))
    np.testing.assert_allclose(image, figures.tile_images(expected, n, n), atol=1e-6)
    assert "linear grid over [-3, 3]" in fig.axes[0].get_xlabel()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0] == "-3.00"


def test_grid_coverage_counts_codes_inside_and_empty_tiles():
    n = 20
    half = NormalDist().inv_cdf(1 / (n + 1))
    codes = np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 0.0], [-3.5, 3.5]])
    g = figures.grid_coverage(codes, n=n, grid="gaussian")
    assert g["half_width"] == pytest.approx(-half)
    assert g["codes_inside"] == pytest.approx(2 / 4)      # |z| <= 1.67 in both coordinates: two codes
    assert g["empty_tiles"] == pytest.approx(1 - 4 / n ** 2)   # four codes, four different nearest tiles
    lin = figures.grid_coverage(codes, n=n, grid="linear", span=4)
    assert lin["half_width"] == 4 and lin["codes_inside"] == 1.0
    # all codes on one tile: every other tile is empty
    same = figures.grid_coverage(np.zeros((50, 2)) + 0.01, n=4, grid="linear", span=1)
    assert same["empty_tiles"] == pytest.approx(1 - 1 / 16)


def test_side_by_side_shows_each_figure_as_a_titled_panel(model2):
    a = figures.latent_manifold_figure(model2, n=3)
    b = figures.latent_manifold_figure(model2, n=3, grid="linear")
    fig = figures.side_by_side([a, b], titles=["paper", "Keras"])
    assert [ax.get_title() for ax in fig.axes] == ["paper", "Keras"]
    panels = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    assert all(p.ndim == 3 and p.std() > 1 for p in panels)   # rendered, not blank
    assert not np.array_equal(panels[0], panels[1])           # two different grids
    with pytest.raises(ValueError):
        figures.side_by_side([])
