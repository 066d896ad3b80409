"""Training: reproducibility, learning, history and the run cache's guarantees."""
import json

import numpy as np
import pytest
from keras import ops

import helpers
from vae_mnist import RunConfig
from vae_mnist.store import runs as runs_mod
from vae_mnist.core.training import train

TINY = dict(epochs=2, batch_size=100, train_subset=1000, test_subset=200)


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    data = helpers.tiny(1000, 200)
    cfg = RunConfig(latent_dim=2, **TINY)
    m1, h1, _ = train(cfg, data, progress=None)
    m2, h2, _ = train(cfg, data, progress=None)
    m3, _, _ = train(cfg.replace(seed=1), data, progress=None)
    w1, w2, w3 = m1.get_weights(), m2.get_weights(), m3.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert h1 == h2
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_training_lowers_the_loss_and_records_every_epoch():
    data = helpers.tiny(2000, 200)
    cfg = RunConfig(latent_dim=10, epochs=3, batch_size=64, train_subset=2000, test_subset=200)
    lines = []
    _, history, seconds = train(cfg, data, progress=lines.append)
    for key in ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl"):
        assert len(history[key]) == 3, key
    assert history["loss"][-1] < history["loss"][0] - 20
    assert history["test_loss"][-1] < history["test_loss"][0]
    np.testing.assert_allclose(np.add(history["reconstruction"], history["kl"]), history["loss"], rtol=1e-4)
    assert len(seconds) == 3
    epoch_lines = [l for l in lines if l.startswith("epoch")]
    assert len(epoch_lines) == 3 and all("loss" in l and "kl" in l and "left" in l for l in epoch_lines)


def test_run_is_cached_reused_and_forced(tmp_path):
    cfg = RunConfig(latent_dim=2, **TINY)
    run = runs_mod.get_run(cfg, progress=None, root=tmp_path)
    metrics = json.loads((run.path / "metrics.json").read_text())
    for key in ("latent_dim", "epochs", "batch_size", "seed", "test_neg_elbo", "test_reconstruction",
                "test_kl", "seconds_per_epoch"):
        assert key in metrics, key
    assert metrics["latent_dim"] == 2 and metrics["epochs"] == 2
    assert abs(metrics["test_neg_elbo"] - metrics["test_reconstruction"] - metrics["test_kl"]) < 1e-3
    history = json.loads((run.path / "history.json").read_text())
    assert len(history["test_loss"]) == 2
    stamp = (run.path / "model.keras").stat().st_mtime_ns

    said = []
    again = runs_mod.get_run(cfg, progress=said.append, root=tmp_path)
    assert again.path == run.path
    assert (run.path / "model.keras").stat().st_mtime_ns == stamp
    assert not any(s.startswith("epoch") for s in said) and any("cached" in s for s in said)
    # The reloaded model is the saved one.
    x = helpers.tiny(10, 10).x_test
    np.testing.assert_array_equal(ops.convert_to_numpy(run.model.encode(x)[0]), ops.convert_to_numpy(again.model.encode(x)[0]))

    runs_mod.get_run(cfg, progress=None, root=tmp_path, force=True)
    assert (run.path / "model.keras").stat().st_mtime_ns != stamp


def test_interrupted_run_leaves_nothing_that_looks_finished(tmp_path):
    cfg = RunConfig(latent_dim=2, epochs=3, batch_size=100, train_subset=1000, test_subset=200)

    def interrupt(line):
        if line.startswith("epoch   2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runs_mod.get_run(cfg, progress=interrupt, root=tmp_path)
    # no finished run, no half-written temp folder (only the run's lock file, which is never deleted)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    assert runs_mod.list_runs(tmp_path) == []
    # A half-written folder under the final name (e.g. a crash of an older version) is not taken for a run.
    (tmp_path / cfg.name()).mkdir()
    (tmp_path / cfg.name() / "model.keras").write_bytes(b"partial")
    said = []
    run = runs_mod.get_run(cfg, progress=said.append, root=tmp_path)
    assert any(s.startswith("epoch   3/") for s in said)
    assert run.metrics["epochs"] == 3
