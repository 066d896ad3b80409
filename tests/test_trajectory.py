"""The latent space over training: the recording callback leaves training unchanged (same history, same
weights), the trajectory is cached and reloaded, and its measures, figure and widget say what they show."""
import re

import numpy as np
import pytest

from vae_mnist.figures import trajectory as trajectory_figures
from vae_mnist.measures import trajectory
from vae_mnist.widgets import trajectory as trajectory_view
from vae_mnist.config import RunConfig


@pytest.fixture(scope="module")
def tiny_config():
    return RunConfig(latent_dim=2, epochs=3, train_subset=600, test_subset=150, seed=4)


@pytest.fixture(scope="module")
def tiny_data(tiny_config):
    from helpers import DATA_DIR
    from vae_mnist.core.data import load_data_for

    return load_data_for(tiny_config, DATA_DIR)


def test_recording_does_not_change_training(tiny_config, tiny_data):
    from vae_mnist.core.evaluation import encode
    from vae_mnist.figures.paper import manifold_grid
    from vae_mnist.core.training import train

    plain_model, plain_history, _ = train(tiny_config, tiny_data, progress=None)
    recorder = trajectory.LatentRecorder(tiny_data.x_test[:100], manifold_grid(4).reshape(-1, 2))
    model, history, _ = train(tiny_config, tiny_data, progress=None, callbacks=[recorder])
    assert history == plain_history  # every number of history.json, exactly
    for a, b in zip(model.get_weights(), plain_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(recorder.codes) == len(recorder.grids) == tiny_config.epochs + 1  # before training, and each epoch
    mean, log_var = encode(plain_model, tiny_data.x_test[:100])
    np.testing.assert_array_equal(recorder.codes[-1], mean)
    np.testing.assert_array_equal(recorder.log_vars[-1], log_var)
    assert recorder.grids[-1].shape == (16, 784) and recorder.grids[-1].dtype == np.uint8
    assert not np.array_equal(recorder.codes[0], recorder.codes[-1])  # the codes moved during training


def test_a_2d_run_trained_by_the_job_loop_keeps_its_trajectory_and_the_chapter_trains_nothing_more(
        tiny_config, tiny_data, tmp_path, monkeypatch):
    """The build's job loop trains a 2-D run with the recorder among its callbacks: the trajectory lands in
    the run folder, with the run's own history, and get_trajectory reads it without training again; the
    run itself is the one trained without a recorder (same history.json bytes, same weights)."""
    from vae_mnist.jobs.jobs import Job, do_job
    from vae_mnist.store.runs import get_run

    root = tmp_path / "runs"
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(root))
    plain = get_run(tiny_config, data=tiny_data, root=tmp_path / "plain", progress=None)
    run = do_job(Job(tiny_config), root, data=tiny_data)
    assert (run.path / trajectory.FILE).is_file()
    assert (run.path / "history.json").read_bytes() == (plain.path / "history.json").read_bytes()
    for a, b in zip(run.model.get_weights(), plain.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    said = []
    traj = trajectory.get_trajectory(tiny_config, progress=said.append)
    assert said == [] and not (root / trajectory.SUBDIR).exists()  # read from the run, nothing trained
    assert traj.history == run.history and traj.codes.shape == (tiny_config.epochs + 1, min(trajectory.N_CODES, len(tiny_data.x_test)), 2)


def test_trajectory_is_cached_and_reloaded(tiny_config, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    said = []
    first = trajectory.get_trajectory(tiny_config, data=tiny_data, n_codes=120, grid_n=3, progress=said.append)
    assert sum(s.lstrip().startswith("epoch ") for s in said) == tiny_config.epochs
    path = trajectory.trajectory_path(tiny_config, 120, 3)
    assert (path / trajectory.FILE).is_file() and path.parent == tmp_path / "runs" / trajectory.SUBDIR
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]
    said.clear()
    again = trajectory.get_trajectory(tiny_config, n_codes=120, grid_n=3, progress=said.append)
    assert not any(s.lstrip().startswith("epoch ") for s in said)  # loaded, not retrained
    np.testing.assert_array_equal(first.codes, again.codes)
    assert first.codes.shape == (tiny_config.epochs + 1, 120, 2) and first.grids.shape == (4, 84, 84)
    assert first.history == again.history and len(first.history["loss"]) == tiny_config.epochs
    with pytest.raises(ValueError, match="2-D latent space"):
        trajectory.get_trajectory(RunConfig(latent_dim=10, epochs=1))


def test_a_damaged_trajectory_is_moved_aside_and_recorded_again(tiny_config, tiny_data, tmp_path, monkeypatch):
    """The store's rules hold for trajectories too: a truncated file on disk is named, moved aside, re-recorded."""
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    first = trajectory.get_trajectory(tiny_config, data=tiny_data, n_codes=50, grid_n=2, progress=None)
    path = trajectory.trajectory_path(tiny_config, 50, 2)
    data = (path / trajectory.FILE).read_bytes()
    (path / trajectory.FILE).write_bytes(data[: len(data) // 2])
    said = []
    again = trajectory.get_trajectory(tiny_config, data=tiny_data, n_codes=50, grid_n=2, progress=said.append)
    assert any("damaged" in s and trajectory.FILE in s for s in said), said
    assert [p.name for p in path.parent.iterdir() if ".damaged-" in p.name]
    np.testing.assert_array_equal(first.codes, again.codes)  # recorded again, the same training


def test_knn_accuracy_and_kl_measure_what_they_say():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    apart = np.concatenate([rng.normal(c, 0.1, (30, 2)) for c in ([0, 0], [5, 5], [-5, 5])])
    assert trajectory.knn_accuracy(apart, labels) == 1.0
    mixed = rng.normal(0, 1, (90, 2))
    assert trajectory.knn_accuracy(mixed, labels) < 0.6
    t = trajectory.Trajectory(run="x", codes=np.zeros((1, 4, 2)), log_vars=np.zeros((1, 4, 2)),
                              labels=np.zeros(4, np.uint8), grids=np.zeros((1, 28, 28), np.uint8), history={})
    assert t.kl()[0] == 0.0  # the prior itself
    t.codes[0, :, 0] = 2.0
    assert t.kl()[0] == pytest.approx(2.0)  # 0.5 * mean^2 in the moved coordinate


def test_widget_and_still(tiny_config, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    traj = trajectory.get_trajectory(tiny_config, data=tiny_data, n_codes=100, grid_n=3, progress=None)
    w = trajectory_view.trajectory_widget(traj, element_id="t1")
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", w.html)
    assert f'max="{tiny_config.epochs}"' in w.html and "vae-explorer-print" in w.html
    assert len(w.payload["grids"]) == len(w.payload["codes"]) == tiny_config.epochs + 1
    fig = trajectory_figures.small_multiples_figure(traj)
    assert len(fig.axes) == 2 * len(trajectory_figures.shown_epochs(tiny_config.epochs))
    assert trajectory_figures.shown_epochs(50) == [0, 1, 2, 5, 10, 50]
    assert trajectory_figures.shown_epochs(1) == [0, 1]


def test_widget_grids_are_greyscale_pngs_of_the_recorded_grid():
    import base64
    import io

    import matplotlib.image

    img = (np.arange(56 * 84).reshape(56, 84) % 256).astype(np.uint8)
    uri = trajectory_view.png_data_uri(img)
    assert uri.startswith("data:image/png;base64,")
    back = matplotlib.image.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")
    assert back.shape == img.shape  # one grey channel
    levels = trajectory.GRID_LEVELS - 1
    np.testing.assert_array_equal(np.rint(back * 255), np.rint(np.rint(img / 255 * levels) * 255 / levels))
