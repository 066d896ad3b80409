"""The importance-weighted bound and the posterior diagnostics, on tiny models."""
import numpy as np
import pytest

import helpers
from vae_mnist import RunConfig
from vae_mnist.core import iwae
from vae_mnist.core.evaluation import active_units, kl_per_dimension, negative_elbo
from vae_mnist.core.iwae import bound_summary, iwae_bound, iwae_slices
from vae_mnist.core.training import train


@pytest.fixture(scope="module", params=["bernoulli", "gaussian"])
def trained(request):
    """A z = 5 model after one epoch on 2,000 images (its posterior is far from the prior)."""
    config = RunConfig(latent_dim=5, epochs=1, likelihood=request.param, train_subset=2000, test_subset=200)
    data = helpers.mnist().subset(2000, 200)
    model, _, _ = train(config, data, progress=None)
    return model, data.x_test


def test_iwae_at_k1_is_the_elbo_in_expectation(trained):
    model, x = trained
    seeds = range(30)
    iw = np.array([iwae_bound(model, x, k=1, seed=s)["nll"] for s in seeds])
    elbo = np.array([negative_elbo(model, x, seed=s)["neg_elbo"] for s in seeds])
    se = np.sqrt(iw.var(ddof=1) / len(iw) + elbo.var(ddof=1) / len(elbo))
    assert abs(iw.mean() - elbo.mean()) < 4 * se + 1e-3, (iw.mean(), elbo.mean(), se)


def test_iwae_does_not_decrease_with_k_and_lies_below_the_negative_elbo(trained):
    model, x = trained
    nll = {k: iwae_bound(model, x, k=k, seed=0)["nll"] for k in (1, 10, 100)}
    # Larger k: a tighter (higher) bound on log p(x), so a lower negative log-likelihood.
    assert nll[1] > nll[10] > nll[100], nll
    assert nll[100] < negative_elbo(model, x, seed=0)["neg_elbo"]


def test_iwae_output_is_seeded_and_complete(trained):
    model, x = trained
    a = iwae_bound(model, x[:50], k=20, seed=3)
    b = iwae_bound(model, x[:50], k=20, seed=3)
    c = iwae_bound(model, x[:50], k=20, seed=4)
    assert set(a) >= {"nll", "stderr", "k", "n", "seconds"}
    assert a["k"] == 20 and a["n"] == 50 and a["stderr"] > 0
    assert a["nll"] == b["nll"] and a["nll"] != c["nll"]
    d = iwae_bound(model, x[:50], k=20, seed=3, per_image=True)
    assert d["per_image"].shape == (50,) and d["per_image"].mean() == pytest.approx(a["nll"])
    assert d["per_image"].std(ddof=1) / np.sqrt(50) == pytest.approx(a["stderr"])


def test_fast_algebra_matches_the_plain_decoder(trained, monkeypatch):
    """x . l = (W2 x) . h + x . b2: the fast path gives the plain path's numbers (same noise)."""
    model, x = trained
    fast = iwae_bound(model, x[:40], k=30, seed=5)["nll"]
    monkeypatch.setattr(iwae, "_decoder_weights", lambda m: None)
    plain = iwae_bound(model, x[:40], k=30, seed=5)["nll"]
    assert abs(fast - plain) < 1e-3 * abs(plain), (fast, plain)


def test_a_bound_computed_in_slices_is_the_one_pass_bound_bit_for_bit(trained, monkeypatch):
    """What the cluster does with a long bound (vae_mnist.jobs.bound_tasks): slices of the test set, each
    with the noise the whole pass gives its images, then one summary. Exactly equal, not close."""
    model, x = trained
    monkeypatch.setattr(iwae, "IWAE_ROWS", 64)  # 3 images per batch at k = 20: slices must respect batches
    whole = iwae_bound(model, x[:50], k=20, seed=3, per_image=True)
    slices = iwae_slices(50, 20, parts=4)
    assert slices[0][0] == 0 and slices[-1][1] == 50 and len(slices) == 4
    assert all(a % 3 == 0 and a < b for a, b in slices) and all(b == a2 for (_, b), (a2, _) in zip(slices, slices[1:]))
    parts = [iwae_bound(model, x[:50], k=20, seed=3, per_image=True, images=s)["per_image"] for s in slices]
    values = np.concatenate(parts)
    assert np.array_equal(values, whole["per_image"])
    summary = bound_summary(values, 20, 0.0)
    assert summary["nll"] == whole["nll"] and summary["stderr"] == whole["stderr"] and summary["n"] == 50
    # a slice that does not start a batch would get other noise: refused
    with pytest.raises(ValueError, match="starts a batch"):
        iwae_bound(model, x[:50], k=20, seed=3, images=(1, 10))
    assert iwae_slices(5, 20, parts=8) == [(0, 3), (3, 5)]  # never more slices than batches


def test_samples_split_into_subchunks_when_k_is_large(trained, monkeypatch):
    """k above the row budget is split per image and recombined by log-sum-exp (how k = 5000 fits)."""
    model, x = trained
    whole = iwae_bound(model, x[:30], k=64, seed=1)
    monkeypatch.setattr(iwae, "IWAE_ROWS", 16)  # 4 sub-chunks of 16 samples per image
    split = iwae_bound(model, x[:30], k=64, seed=1)
    assert split["k"] == 64 and split["n"] == 30
    # Different noise, same estimator: within Monte-Carlo noise of each other, and not the k=16 bound.
    k16 = iwae_bound(model, x[:30], k=16, seed=1)["nll"]
    assert abs(split["nll"] - whole["nll"]) < abs(k16 - whole["nll"]) + 0.5
    assert split["nll"] < k16 + 0.5


def _prior_posterior_model(likelihood="bernoulli"):
    from vae_mnist.core.model import build_vae

    model = build_vae(latent_dim=4, likelihood=likelihood, seed=0)
    for name in ("z_mean", "z_log_var"):
        layer = model.encoder.get_layer(name)
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
        layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
    return model


def test_posterior_equal_to_the_prior_has_no_active_units():
    x = helpers.tiny(train=1, test=300).x_test
    model = _prior_posterior_model()
    assert active_units(model, x) == 0
    np.testing.assert_allclose(kl_per_dimension(model, x), 0.0, atol=1e-7)


def test_trained_model_has_active_units_and_kl_per_dimension_sums_to_the_kl(trained):
    model, x = trained
    assert 1 <= active_units(model, x) <= 5
    per_dim = kl_per_dimension(model, x)
    assert per_dim.shape == (5,) and (per_dim >= 0).all()
    assert per_dim.sum() == pytest.approx(negative_elbo(model, x)["kl"], rel=1e-4)


def test_ensure_extra_metrics_adds_the_keys_once(tmp_path):
    from vae_mnist.core.evaluation import ensure_extra_metrics
    from vae_mnist.store.runs import get_run

    config = RunConfig(latent_dim=3, epochs=1, train_subset=500, test_subset=100)
    run = get_run(config, progress=None, data=helpers.mnist(), root=tmp_path)
    assert "iwae_nll" not in run.metrics
    m = ensure_extra_metrics(run, k=20, data=helpers.mnist())
    assert m["iwae_k"] == 20 and m["iwae_nll"] < m["test_neg_elbo"] and m["iwae_stderr"] > 0
    assert 0 <= m["active_units"] <= 3 and len(m["kl_per_dimension"]) == 3
    assert run.metrics == m  # written to metrics.json
    # the bound's per-image values are kept beside it, for paired comparisons (vae_mnist.measures.comparison)
    from vae_mnist.measures.comparison import PER_IMAGE_FILE, iwae_per_image

    kept = np.load(run.path / PER_IMAGE_FILE.format(k=20))
    assert kept.shape == (100,) and abs(kept.mean() - m["iwae_nll"]) < 1e-9
    assert np.array_equal(iwae_per_image(run, k=20, data=helpers.mnist()), kept)
    again = ensure_extra_metrics(run, k=20, data=helpers.mnist())
    assert again["iwae_seconds"] == m["iwae_seconds"]  # nothing recomputed
    other_k = ensure_extra_metrics(run, k=5, data=helpers.mnist())
    assert other_k["iwae_k"] == 5 and other_k["iwae_nll"] > m["iwae_nll"] - 1.0


def test_cli_evaluate_with_iwae_writes_the_metrics(tmp_path, capsys):
    import json

    from vae_mnist.cli.main import main
    from vae_mnist.store.runs import get_run

    config = RunConfig(latent_dim=2, epochs=1, train_subset=300, test_subset=60)
    run = get_run(config, progress=None, data=helpers.mnist(), root=tmp_path)
    code = main(["evaluate", str(run.path), "--iwae-k", "10", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    printed = json.loads(out.strip().splitlines()[-1])
    stored = run.metrics
    assert stored["iwae_k"] == printed["iwae_k"] == 10
    assert stored["iwae_nll"] == pytest.approx(printed["iwae_nll"]) and stored["iwae_stderr"] > 0
    assert stored["iwae_nll"] < stored["test_neg_elbo"]
    assert "IWAE NLL" in out and "(k=10)" in out


def test_compiled_bound_is_reused_and_reads_the_current_weights():
    from vae_mnist.core.model import build_vae

    model = build_vae(latent_dim=3, seed=1)
    x = helpers.tiny(train=1, test=40).x_test
    before = iwae_bound(model, x, k=8, seed=0)["nll"]
    fn = iwae._log_weights_for(model)
    layer = model.decoder.get_layer("decoder_logits")
    layer.bias.assign(layer.bias.numpy() - 1.0)
    after = iwae_bound(model, x, k=8, seed=0)["nll"]
    assert iwae._log_weights_for(model) is fn  # one compiled function per model
    assert after != before  # ... that sees weights changed after it was compiled
    fresh = build_vae(latent_dim=3, seed=1)
    fresh.set_weights(model.get_weights())
    assert iwae_bound(fresh, x, k=8, seed=0)["nll"] == pytest.approx(after, rel=1e-6)
