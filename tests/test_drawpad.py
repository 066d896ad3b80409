"""The drawing pad's Python side: MNIST's form of a drawing, the encoder's export (the decoder's
formats) against Keras, and the HTML it emits. The browser half is in tests/test_browser.py."""
import re

import numpy as np
import pytest

from vae_mnist.widgets import drawpad
from vae_mnist.widgets import explorer
from vae_mnist.core.model import build_vae


@pytest.fixture(scope="module")
def vae2():
    return build_vae(latent_dim=2, hidden_dim=512, seed=5)


@pytest.fixture(scope="module")
def images():
    """Digit-like test images: strokes of grey levels on black, 8-bit like MNIST's."""
    rng = np.random.default_rng(0)
    out = np.zeros((40, 28, 28))
    for img in out:
        for _ in range(3):
            r, c = rng.integers(5, 23, 2)
            img[r - 2:r + 3, c - 6:c + 6] = rng.integers(80, 256) / 255
    return out.reshape(40, 784).astype("float32")


def _centre_of_mass(img):
    rows, cols = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return (img * rows).sum() / img.sum(), (img * cols).sum() / img.sum()


def test_mnist_form_fits_20_pixels_keeps_aspect_and_centres_the_mass():
    ink = np.zeros((280, 280))
    ink[10:110, 200:250] = 1.0  # a 100 x 50 block in a corner
    out = drawpad.mnist_form(ink).reshape(28, 28)
    rows, cols = np.nonzero(out > 0)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (20, 10)  # aspect 2:1 kept
    cy, cx = _centre_of_mass(out)
    assert abs(cy - drawpad.CENTRE) <= 0.5 and abs(cx - drawpad.CENTRE) <= 0.5
    assert out.max() == pytest.approx(1.0) and out.min() == 0.0


def test_mnist_form_averages_the_ink_it_covers():
    ink = np.zeros((60, 60))
    ink[0:40, 0:40] = 0.5
    ink[0:2, 0:2] = 1.0  # one output pixel covers a 2 x 2 block: its mean
    out = drawpad.mnist_form(ink).reshape(28, 28)
    rows, cols = np.nonzero(out > 0)
    box = out[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert box.shape == (20, 20)
    assert box[0, 0] == pytest.approx(1.0) and box[0, 1] == pytest.approx(0.5) and box[5, 5] == pytest.approx(0.5)


def test_mnist_form_of_an_upscaled_mnist_image_is_that_image():
    from helpers import mnist

    x = mnist().x_test[:200].reshape(-1, 28, 28)
    exact = [np.abs(drawpad.mnist_form(np.kron(img, np.ones((10, 10)))) - img.reshape(-1)).max() < 1e-9 for img in x]
    assert np.mean(exact) > 0.95, np.mean(exact)


def test_empty_drawing_is_all_zero():
    assert not drawpad.mnist_form(np.zeros((50, 50))).any()


def test_encoder_export_matches_keras_and_auto_picks_the_smallest_good_format(vae2, images):
    ref_mean, ref_sigma = drawpad.keras_encode(vae2, images)
    for fmt in explorer.FORMATS:
        p = drawpad.export_encoder(vae2, images, fmt=fmt)
        mean, sigma = drawpad.numpy_encode(p, images)
        err = max(np.abs(mean - ref_mean).max(), np.abs(sigma - ref_sigma).max())
        assert err == pytest.approx(p["max_abs_error"])
        if fmt == "float32":
            assert err < 1e-5
    auto = drawpad.export_encoder(vae2, images)
    assert auto["max_abs_error"] < drawpad.TOLERANCE * explorer.SAFETY
    smaller = explorer.FORMATS[:explorer.FORMATS.index(auto["format"])]
    for fmt in smaller:  # every smaller format was too coarse
        assert drawpad.export_encoder(vae2, images, fmt=fmt)["max_abs_error"] >= drawpad.TOLERANCE * explorer.SAFETY
    # a coarse tolerance takes the smallest format
    assert drawpad.export_encoder(vae2, images, tolerance=1.0)["format"] == explorer.FORMATS[0]
    with pytest.raises(ValueError, match="weight format"):
        drawpad.export_encoder(vae2, images, fmt="int8")


def test_encoder_export_uses_the_decoders_format_code(vae2, images):
    """The encoder's matrices are the decoder's format: decode_matrix gives the Keras kernels back."""
    p = drawpad.export_encoder(vae2, images, fmt="float32")
    hidden = vae2.encoder.get_layer("encoder_hidden").get_weights()[0]
    np.testing.assert_array_equal(explorer.decode_matrix(p["layers"][0]["kernel"]), hidden)
    heads = explorer.decode_matrix(p["layers"][1]["kernel"])
    np.testing.assert_array_equal(heads[:, :2], vae2.encoder.get_layer("z_mean").get_weights()[0])
    np.testing.assert_array_equal(heads[:, 2:], vae2.encoder.get_layer("z_log_var").get_weights()[0])


def test_draw_pad_html_is_inline_and_reuses_a_decoder_on_the_page(vae2, images):
    alone = drawpad.draw_pad(vae2, images, name="m", start=images[0])
    pad = explorer.latent_pad(vae2, name="m")
    shared = drawpad.draw_pad(vae2, images, decoder=pad, name="m", start=images[0])
    for w in (alone, shared):
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", w.html), "the pad must not load from another host"
        assert "vae-explorer-print" in w.html and "mountDrawPad" in w.html and "registerEncoder" in w.html
    # the shared pad does not ship the decoder's weights again
    dec_kb = pad.payload["weights_nbytes"]
    assert alone.nbytes - shared.nbytes > 0.9 * dec_kb
    assert "window.vaeExplorer.register(" not in shared.html
    info = drawpad.describe(shared)
    assert info["n_probes"] == len(images) and info["page_kb"] * 1024 == shared.nbytes
    with pytest.raises(ValueError, match="decoder explorer"):
        drawpad.draw_pad(vae2, images, decoder=pad, name="other")
    with pytest.raises(ValueError, match="28x28"):
        drawpad.draw_pad(vae2, images, decoder=pad, name="m", start=np.zeros(10))
