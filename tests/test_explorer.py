"""The explorer's Python side: weight export round trips, the JS-equivalent decoder against Keras,
the automatic choice of format, and the HTML it emits (inline, no other host)."""
import json
import re

import numpy as np
import pytest

from vae_mnist.widgets import explorer
from vae_mnist.core.model import build_vae


@pytest.fixture(scope="module")
def vae2():
    return build_vae(latent_dim=2, hidden_dim=64, seed=3)


@pytest.fixture(scope="module")
def vae5():
    return build_vae(latent_dim=5, hidden_dim=512, seed=4)


def _sharpen(model, factor):
    """A copy of ``model`` whose decoder weights are scaled, so the hidden layer is large (like a trained one)."""
    m = build_vae(latent_dim=model.latent_dim, hidden_dim=model.hidden_dim, seed=model.seed)
    m.set_weights(model.get_weights())
    for layer in m.decoder.layers:
        w = layer.get_weights()
        if w:
            layer.set_weights([a * factor for a in w])
    return m


@pytest.mark.parametrize("fmt", explorer.FORMATS)
def test_matrix_round_trip(fmt):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (7, 13)).astype("float32")
    w[2] = 0.0                      # an all-zero row (q24 scale must not divide by zero)
    w[3, 4] = -w[3].__abs__().max() - 1.0  # the row's peak is negative
    m = explorer.encode_matrix(w, fmt)
    json.dumps(m)  # JSON-able
    back = explorer.decode_matrix(m)
    assert back.shape == w.shape and back.dtype == np.float32
    if fmt == "float32":
        np.testing.assert_array_equal(back, w)
    elif fmt == "float16":
        np.testing.assert_array_equal(back, w.astype(np.float16).astype(np.float32))
    else:  # 24-bit integers with one scale per row: error at most half a step of that row
        step = np.abs(w).max(axis=1, keepdims=True) / explorer.Q24_MAX
        # (plus the rounding of the dequantized value to float32)
        assert np.all(np.abs(back - w) <= 0.5 * step * (1 + 1e-6) + np.spacing(np.abs(w)))
        assert np.all(back[2] == 0)
        assert back[3, 4] == pytest.approx(w[3, 4], rel=1e-6)
        assert np.abs(back - w).max() < 1e-6


def test_unknown_format_is_rejected(vae2):
    with pytest.raises(ValueError, match="weight format"):
        explorer.encode_matrix(np.zeros((2, 2), "float32"), "int8")
    with pytest.raises(ValueError, match="weight format"):
        explorer.export_decoder(vae2, fmt="bfloat16")


def test_payload_sizes_follow_the_format(vae5):
    sizes = {f: explorer.export_decoder(vae5, fmt=f)["weights_nbytes"] for f in explorer.FORMATS}
    n_weights = sum(w.size for w, _ in explorer.decoder_weights(vae5))
    for f, nbytes in sizes.items():
        # base64 is 4/3 of the raw bytes, plus biases (float32) and the JSON around them
        raw = n_weights * explorer.BYTES_PER_WEIGHT[f]
        assert 4 / 3 * raw < nbytes < 4 / 3 * raw * 1.02 + 20000, (f, nbytes, raw)
    assert sizes["float16"] < sizes["q24"] < sizes["float32"]


def test_numpy_decode_matches_keras(vae5):
    """The JS-equivalent computation (float64 from the exported float32 weights) is the Keras decoder."""
    p = explorer.export_decoder(vae5, fmt="float32")
    z = explorer.probe_points(5, 3.0, n=64, seed=1)
    ref = explorer.keras_decode(vae5, z)
    got = explorer.numpy_decode(p, z)
    assert got.shape == (len(z), 784)
    assert np.abs(got - ref).max() < 1e-5
    # and it is not trivially so: another model's decoder differs
    other = explorer.export_decoder(build_vae(latent_dim=5, hidden_dim=512, seed=5), fmt="float32")
    assert np.abs(explorer.numpy_decode(other, z) - ref).max() > 1e-2


@pytest.mark.parametrize("fmt", explorer.FORMATS)
def test_recorded_error_is_the_real_error(vae5, fmt):
    sharp = _sharpen(vae5, 3.0)
    p = explorer.export_decoder(sharp, fmt=fmt, limit=3.0)
    z = explorer.probe_points(5, 3.0)
    err = np.abs(explorer.numpy_decode(p, z) - explorer.keras_decode(sharp, z)).max()
    assert p["max_abs_error"] == pytest.approx(float(err), rel=1e-6, abs=1e-9)
    assert p["format"] == fmt


def test_auto_ships_the_smallest_format_within_tolerance(vae5):
    limit = explorer.TOLERANCE * explorer.SAFETY
    # a freshly initialised decoder has small activations: float16 is accurate enough
    mild = explorer.export_decoder(vae5)
    assert mild["format"] == "float16" and mild["max_abs_error"] < limit
    # scaled-up weights (large hidden activations, as after training): float16 is not
    sharp = _sharpen(vae5, 6.0)
    errors = {r["format"]: r["max_abs_error"] for r in explorer.compare_formats(sharp)}
    assert errors["float16"] > limit, errors
    chosen = explorer.export_decoder(sharp)
    first_ok = next(f for f in explorer.FORMATS if errors[f] < limit)
    assert chosen["format"] == first_ok != "float16"
    # independent check at points the probe set did not contain
    z = np.random.default_rng(42).uniform(-3, 3, (300, 5)).astype("float32")
    err = np.abs(explorer.numpy_decode(chosen, z) - explorer.keras_decode(sharp, z)).max()
    assert err < explorer.TOLERANCE


def test_pad_needs_two_dimensions(vae5):
    with pytest.raises(ValueError, match="2-D latent space"):
        explorer.latent_pad(vae5)


def test_pad_range_covers_the_codes():
    assert explorer.pad_range(None) == 3.0
    assert explorer.pad_range(np.zeros((10, 2))) == 3.0
    codes = np.random.default_rng(0).normal(0, 1.7, (5000, 2))
    r = explorer.pad_range(codes)
    assert np.mean(np.all(np.abs(codes) <= r, axis=1)) > 0.99 and r % 0.5 == 0
    assert explorer.pad_range(codes * 100) == 6.0


def _payloads(html_text):
    return [json.loads(m) for m in re.findall(r"window\.vaeExplorer\.register\((\{.*?\})\);", html_text)]


def test_html_is_self_contained(vae2, vae5):
    codes = np.random.default_rng(0).normal(0, 1, (300, 2))
    labels = np.arange(300) % 10
    pad = explorer.latent_pad(vae2, codes, labels, name="p", run="some-run")
    sliders = explorer.latent_sliders(vae5, name="s")
    for widget, n_inputs in ((pad, 0), (sliders, 5)):
        text = widget._repr_html_()
        # everything inline: no script or image from anywhere, no URL to another host
        assert not re.search(r"<(script|img|link|iframe)[^>]*\s(src|href)\s*=", text)
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
        assert "fetch(" not in text and "XMLHttpRequest" not in text
        assert text.count("<script>") == text.count("</script>") == 3
        assert len(re.findall(r"type='range'", text)) == n_inputs
        (payload,) = _payloads(text)
        assert payload == widget.payload
    assert pad.payload["scatter"]["n"] == 300 and pad.payload["run"] == "some-run"
    # the pad's background codes survive the float16 round trip
    pts = np.frombuffer(__import__("base64").b64decode(pad.payload["scatter"]["points"]), "<f2").reshape(-1, 2)
    np.testing.assert_allclose(pts, codes, atol=2e-3)
    d = explorer.describe(sliders)
    assert d["format"] in explorer.FORMATS and d["page_kb"] > d["weights_kb"] > 0


def test_library_has_the_api():
    js = explorer.library_js()
    for name in ("register", "decode", "mountPad", "mountSliders", "instances"):
        assert f"api.{name}" in js
    assert "fetch(" not in js and "XMLHttpRequest" not in js and not re.search(r"https?://", js)
