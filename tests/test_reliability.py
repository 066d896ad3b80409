"""The run cache and every entry point under faults, misuse and concurrency (docs/reliability.md).

Real damaged files, real concurrent processes, real signals. Every row of docs/reliability.md is a
test here (or in test_cli.py / test_data.py / test_papermill.py, named in the table).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import helpers
from vae_mnist import RunConfig
from vae_mnist.store import runs
from vae_mnist.errors import ConfigError, DamagedRunError, DataError

TINY = dict(latent_dim=2, epochs=1, batch_size=100, train_subset=500, test_subset=100)
TINY_ARGS = ["--latent-dim", "2", "--epochs", "1", "--batch-size", "100", "--train-subset", "500",
             "--test-subset", "100"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def cli(*args, cache=None, env=None, timeout=300):
    e = helpers.data_env()
    if cache is not None:
        e["VAE_MNIST_CACHE_DIR"] = str(cache)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "vae_mnist.cli.main", *args], capture_output=True, text=True,
                          env=e, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(result, *fragments, code=2):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = helpers.our_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def run_folders(cache: Path):
    return sorted(p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))


def temporaries(cache: Path):
    return sorted(p.name for p in cache.glob(".tmp-*"))


class Lines:
    """Reads a pipe line by line in a thread, so a test can wait for a given line without blocking."""

    def __init__(self, pipe):
        self.q, self.seen = queue.Queue(), []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe):
        for line in pipe:
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, predicate, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("process ended before the expected line; it said:\n" + "".join(self.seen))
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError("timed out waiting for a line; seen:\n" + "".join(self.seen))

    def rest(self):
        out = []
        while True:
            line = self.q.get(timeout=60)
            if line is None:
                return "".join(self.seen + out)
            out.append(line)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny finished run (trained once per module); tests copy it into their own cache."""
    root = tmp_path_factory.mktemp("trained")
    run = runs.get_run(RunConfig(**TINY), progress=None, data=helpers.mnist(), root=root)
    return run.path


@pytest.fixture()
def cache(tmp_path, trained):
    """A private cache holding a copy of the tiny run."""
    c = tmp_path / "cache"
    c.mkdir()
    shutil.copytree(trained, c / trained.name)
    return c


def _weights_digest(model) -> str:
    return hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()


# --------------------------------------------------------------------------------------
# damaged runs
# --------------------------------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "wrong keys":
        if path.suffix == ".json":
            obj = json.loads(data)
            first = {"config.json": "latent_dim", "history.json": "loss", "metrics.json": "test_neg_elbo"}[path.name]
            obj[first + "_renamed"] = obj.pop(first)
            path.write_text(json.dumps(obj))
        else:  # a well-formed zip that is not a Keras model archive
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("metadata.json", "{}")
            path.write_bytes(buf.getvalue())
    elif how == "flipped":
        raw = bytearray(data)
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    else:
        raise ValueError(how)


@pytest.mark.parametrize("file", ["model.keras", "encoder.keras", "decoder.keras", "config.json", "history.json", "metrics.json"])
@pytest.mark.parametrize("how", ["truncated", "empty", "wrong keys"])
def test_every_damage_of_every_file_is_found_and_names_the_file(cache, file, how):
    folder = cache / RunConfig(**TINY).name()
    _damage(folder / file, how)
    problem = runs.check_run(folder)
    assert problem is not None and problem.kind == "damaged" and problem.file == file, problem


# What follows a damage found is the same whatever the damage (the check above names it): each file and
# each kind of damage once here, through the whole route (moved aside, reported, retrained)
@pytest.mark.parametrize("file, how", [("model.keras", "truncated"), ("config.json", "empty"),
                                       ("history.json", "wrong keys"), ("metrics.json", "truncated")])
def test_damaged_run_is_moved_aside_reported_and_retrained(cache, file, how):
    config = RunConfig(**TINY)
    folder = cache / config.name()
    _damage(folder / file, how)
    assert runs.check_run(folder).file == file
    said = []
    run = runs.get_run(config, progress=said.append, data=helpers.mnist(), root=cache)
    reports = [s for s in said if " is damaged (" in s]
    assert len(reports) == 1 and f"({file}: " in reports[0] and "moved aside" in reports[0], said
    aside = [p for p in cache.iterdir() if p.name.startswith(config.name() + ".damaged-")]
    assert len(aside) == 1 and aside[0].name in reports[0]  # kept (not deleted), with the damaged file in it
    assert (aside[0] / file).read_bytes() != (run.path / file).read_bytes()
    assert any(s.startswith("epoch   1/1") for s in said), "not retrained"
    assert runs.check_run(run.path, full=True) is None
    assert run_folders(cache) == sorted([config.name(), aside[0].name])


def test_flipped_byte_inside_the_model_archive_is_found_by_the_cheap_check(cache):
    folder = cache / RunConfig(**TINY).name()
    _damage(folder / "model.keras", "flipped")
    problem = runs.check_run(folder)
    assert problem is not None and problem.file == "model.keras" and problem.kind == "damaged"


def test_history_of_the_wrong_length_is_damage(cache):
    folder = cache / RunConfig(**TINY).name()
    h = json.loads((folder / "history.json").read_text())
    h = {k: v * 2 for k, v in h.items()}
    (folder / "history.json").write_text(json.dumps(h))
    problem = runs.check_run(folder)
    assert problem.kind == "damaged" and problem.file == "history.json" and "epochs" in problem.reason


def test_cli_train_on_a_truncated_model_says_so_and_retrains(cache):
    config = RunConfig(**TINY)
    _damage(cache / config.name() / "model.keras", "truncated")
    result = cli("train", *TINY_ARGS, cache=cache)
    assert result.returncode == 0, result.stderr
    damaged = [l for l in result.stdout.splitlines() if " is damaged (" in l]
    assert len(damaged) == 1 and "model.keras" in damaged[0], result.stdout
    assert "epoch   1/1" in result.stdout and "using cached run" not in result.stdout
    assert runs.check_run(cache / config.name(), full=True) is None


def test_cli_evaluate_a_damaged_run_is_one_line_naming_the_file(cache):
    config = RunConfig(**TINY)
    _damage(cache / config.name() / "model.keras", "truncated")
    line = assert_one_line_error(cli("evaluate", config.name(), cache=cache), "model.keras", "damaged", "moved aside")
    assert config.name() + ".damaged-" in line
    assert not (cache / config.name()).exists()


def test_cli_list_reports_a_damaged_run_and_goes_on(cache, trained):
    good = RunConfig(**TINY)
    bad_config = good.replace(seed=1)
    shutil.copytree(trained, cache / bad_config.name())
    (cache / bad_config.name() / "metrics.json").write_text('{"test_neg_elbo": ')
    result = cli("list", cache=cache)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(l.startswith(good.name() + "  test -ELBO") for l in lines), lines
    bad = [l for l in lines if l.startswith(bad_config.name())]
    assert len(bad) == 1 and "DAMAGED (metrics.json: " in bad[0] and "moved aside" in bad[0]
    assert [p.name for p in cache.glob(bad_config.name() + ".damaged-*")]


def test_run_object_refuses_a_damaged_folder_with_one_line(cache):
    folder = cache / RunConfig(**TINY).name()
    (folder / "config.json").write_text("")
    with pytest.raises(DamagedRunError) as info:
        runs.Run(folder)
    assert "config.json: empty" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------
# the cache key sees the code
# --------------------------------------------------------------------------------------
def test_a_change_of_the_training_code_makes_the_run_stale(cache, monkeypatch):
    config = RunConfig(**TINY)
    old = json.loads((cache / config.name() / "config.json").read_text())
    assert old["code_hash"] == runs.code_hash()
    from vae_mnist.store import run_checks

    monkeypatch.setattr(run_checks, "code_hash", lambda: "0123456789abcdef")
    problem = runs.check_run(cache / config.name())
    assert problem.kind == "stale" and "other training code" in problem.reason
    said = []
    run = runs.get_run(config, progress=said.append, data=helpers.mnist(), root=cache)
    assert any("stale" in s and "moved aside" in s for s in said), said
    assert any(s.startswith("epoch") for s in said), "the stale run was reused"
    assert json.loads((run.path / "config.json").read_text())["code_hash"] == "0123456789abcdef"
    assert len(list(cache.glob(config.name() + ".stale-*"))) == 1


def test_code_hash_covers_the_sources_that_decide_training_keyed_by_module_name():
    """The run code hash is over the named modules' sources: the same bytes under another file path
    give the same hash (a move alone invalidates nothing), another module name does not."""
    import importlib.util

    names = tuple(f"vae_mnist.core.{m}" for m in ("model", "losses", "training", "data"))
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + Path(importlib.util.find_spec(name).origin).read_bytes() + b"\0")
    assert runs.code_hash() == h.hexdigest()[:16]
    from vae_mnist.store.entries import code_hash

    assert code_hash(names) == runs.code_hash()
    assert code_hash(names[:3] + ("vae_mnist.core.iwae",)) != runs.code_hash()


# --------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------
_TRAINER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    import numpy as np
    from vae_mnist import RunConfig
    from vae_mnist.store.runs import get_run

    barrier = os.environ.get("BARRIER")
    said = []
    def say(line):
        said.append(line)
        print(line, file=sys.stderr, flush=True)
        if barrier and line.startswith("epoch"):
            while not os.path.exists(barrier):   # hold the lock, mid-training, until the test says go
                time.sleep(0.05)
    run = get_run(RunConfig(**json.loads(sys.argv[1])), progress=say)
    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in run.model.get_weights())).hexdigest()
    print(json.dumps({"trained": any(s.startswith("epoch") for s in said),
                      "waited": any(s.startswith("waiting") for s in said),
                      "weights": digest, "path": str(run.path)}))
""")


@pytest.mark.slow
def test_two_processes_asking_for_the_same_run_train_it_once(tmp_path):
    cache = tmp_path / "cache"
    config = dict(TINY, epochs=2)
    env = helpers.data_env()
    env["VAE_MNIST_CACHE_DIR"] = str(cache)
    barrier = tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", _TRAINER, json.dumps(config)], env=dict(env, BARRIER=str(barrier)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        Lines(first.stderr).wait_for(lambda l: l.startswith("epoch   1/"))  # first holds the lock, mid-training
        assert temporaries(cache), "training does not happen in a temporary folder"
        second = subprocess.Popen([sys.executable, "-c", _TRAINER, json.dumps(config)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        second_err = Lines(second.stderr)
        second_err.wait_for(lambda l: l.startswith("waiting for another process"))
        barrier.touch()
        out1, out2 = first.stdout.read(), second.stdout.read()
        first.wait(300)
        second.wait(300)
    finally:
        barrier.touch()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
    assert first.returncode == 0 and second.returncode == 0
    r1, r2 = json.loads(out1.splitlines()[-1]), json.loads(out2.splitlines()[-1])
    assert r1["trained"] and not r2["trained"] and r2["waited"]
    assert r1["weights"] == r2["weights"] and r1["path"] == r2["path"]
    assert run_folders(cache) == [RunConfig(**config).name()] and temporaries(cache) == []


_METRICS_WRITER = textwrap.dedent("""
    import os, sys, time
    from vae_mnist.store.runs import Run
    run = Run(sys.argv[1])
    tag, n, go = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    open(go + "-ready-" + tag, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    for i in range(n):
        run.update_metrics(**{f"{tag}_{i}": i})
""")


@pytest.mark.slow
def test_two_processes_adding_different_metrics_both_land(cache):
    folder = cache / RunConfig(**TINY).name()
    before = json.loads((folder / "metrics.json").read_text())
    go = cache / "go"
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", _METRICS_WRITER, str(folder), tag, str(n), str(go)],
                              env=helpers.data_env(), stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    deadline = time.monotonic() + 240
    while not all(Path(f"{go}-ready-{t}").exists() for t in ("a", "b")) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # both start writing at the same moment
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    after = json.loads((folder / "metrics.json").read_text())
    for tag in ("a", "b"):
        assert all(after.get(f"{tag}_{i}") == i for i in range(n)), f"lost updates of {tag}"
    assert {k: after[k] for k in before} == before
    assert not [p.name for p in folder.iterdir() if p.name not in runs.FILES], "temporary files left"


def test_a_finished_run_is_replaced_only_with_force(cache, trained):
    config = RunConfig(**TINY)
    before = (cache / config.name() / "model.keras").read_bytes()
    src = cache.parent / "elsewhere"
    shutil.copytree(trained, src)
    said = []
    kept = runs.install_run(src, root=cache, progress=said.append)
    assert kept.path == cache / config.name() and any("kept" in s for s in said)
    assert (cache / config.name() / "model.keras").read_bytes() == before
    replaced = runs.install_run(src, root=cache, force=True)
    assert runs.check_run(replaced.path, full=True) is None and temporaries(cache) == []


def test_install_run_from_an_archive_and_refuse_a_damaged_one(tmp_path, trained):
    cache = tmp_path / "cache"
    run = runs.install_run_archive(runs.pack_run(trained), root=cache)
    assert run.path == cache / trained.name and runs.check_run(run.path, full=True) is None
    assert _weights_digest(run.model) == _weights_digest(runs.Run(trained).model)
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    _damage(broken / "model.keras", "truncated")
    with pytest.raises(DamagedRunError, match="model.keras"):
        runs.install_run(broken, root=tmp_path / "cache2")
    assert not (tmp_path / "cache2").exists() or run_folders(tmp_path / "cache2") == []


def test_run_lock_is_reentrant_in_a_thread_and_excludes_another_thread(tmp_path):
    folder = tmp_path / "some-run"
    order = []

    def other():
        with runs.run_lock(folder):
            order.append("other")

    t = threading.Thread(target=other)
    with runs.run_lock(folder):
        with runs.run_lock(folder):  # re-entrant: no deadlock
            t.start()
            t.join(0.5)
            assert order == []  # the other thread waits for the lock
            order.append("me")
    t.join(10)
    assert order == ["me", "other"]
    entered, release = threading.Event(), threading.Event()

    def holder():
        with runs.run_lock(folder):
            entered.set()
            release.wait(10)

    h = threading.Thread(target=holder)
    h.start()
    assert entered.wait(10)
    try:
        with pytest.raises(runs.LockBusy):
            with runs.run_lock(folder, timeout=0):
                pass
    finally:
        release.set()
        h.join(10)


# --------------------------------------------------------------------------------------
# interrupted work
# --------------------------------------------------------------------------------------
def _start_training(cache, epochs=5000):
    env = helpers.data_env()
    env["VAE_MNIST_CACHE_DIR"] = str(cache)
    args = ["--latent-dim", "2", "--epochs", str(epochs), "--batch-size", "100", "--train-subset", "500",
            "--test-subset", "100"]
    p = subprocess.Popen([sys.executable, "-m", "vae_mnist.cli.main", "train", *args], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    Lines(p.stdout).wait_for(lambda l: l.startswith("epoch   1/"))
    return p


@pytest.mark.slow
def test_sigterm_mid_training_exits_143_with_one_line_and_keeps_nothing(tmp_path):
    cache = tmp_path / "cache"
    p = _start_training(cache)
    assert temporaries(cache)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    lines = helpers.our_lines(err)
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "Traceback" not in err
    assert run_folders(cache) == [] and temporaries(cache) == []


@pytest.mark.slow
def test_killed_training_leaves_a_temporary_folder_that_the_next_start_removes(tmp_path):
    cache = tmp_path / "cache"
    p = _start_training(cache)
    p.kill()
    p.wait(60)
    left = temporaries(cache)
    assert len(left) == 1 and (cache / left[0] / ".owner").is_file()
    # a temporary folder whose owner is alive (this test process) is not touched
    from vae_mnist.store.temporaries import write_owner

    live = cache / ".tmp-live-run-abcd"
    live.mkdir()
    write_owner(live)
    result = cli("list", cache=cache)
    assert result.returncode == 0, result.stderr
    assert temporaries(cache) == [live.name]
    assert "left behind" in result.stderr and left[0] in result.stderr
    assert run_folders(cache) == []


def test_a_reused_pid_does_not_protect_a_leftover(tmp_path):
    from vae_mnist.store import temporaries as leftovers

    folder = tmp_path / ".tmp-x-1234"
    folder.mkdir()
    # the owner record names this (live) process but a start time that is not its own: a re-used PID
    rec = leftovers.owner_record()
    rec["started"] = (rec["started"] or 0) - 1000
    (folder / ".owner").write_text(json.dumps(rec))
    assert leftovers.is_leftover(folder)
    leftovers.write_owner(folder)
    assert not leftovers.is_leftover(folder)


# --------------------------------------------------------------------------------------
# every input, one line
# --------------------------------------------------------------------------------------
def test_seeds_abc_breaks_only_the_command_that_reads_it(tmp_path):
    listed = cli("list", cache=tmp_path, env={"VAE_MNIST_SEEDS": "abc"})
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert_one_line_error(cli("book", "--root", str(tmp_path), cache=tmp_path, env={"VAE_MNIST_SEEDS": "abc"}),
                          "SEEDS must be a positive integer", "'abc'")


@pytest.mark.parametrize("env, fragment", [
    ({"VAE_MNIST_SEEDS": "two"}, "VAE_MNIST_SEEDS"),
    ({"VAE_MNIST_SEEDS": "0"}, "VAE_MNIST_SEEDS"),
    ({"VAE_MNIST_PROFILE": "quick"}, "VAE_MNIST_PROFILE"),
])
def test_bad_book_environment_is_one_line(tmp_path, env, fragment):
    assert_one_line_error(cli("book", "--root", str(tmp_path), cache=tmp_path, env=env), fragment)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("seed", ["4294967296", "-1", "1.5", "abc"])
def test_bad_seed_on_the_command_line_is_one_line(tmp_path, seed):
    assert_one_line_error(cli("train", *TINY_ARGS, "--seed", seed, cache=tmp_path), "--seed", "0 to 4294967295")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("seed", [1.5, 2**32, -1, True, "x"])
def test_bad_seed_in_a_configuration(seed):
    with pytest.raises(ConfigError, match="seed must be an integer from 0 to 4294967295"):
        RunConfig(seed=seed)
    assert RunConfig(seed=2**32 - 1).seed == 2**32 - 1 and RunConfig(seed=3.0).seed == 3


def test_cache_folder_that_is_a_file_is_one_line(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert_one_line_error(cli("train", *TINY_ARGS, cache=not_a_folder), "VAE_MNIST_CACHE_DIR", "not a folder")


def test_unknown_notebook_parameter_stops_the_run_page(tmp_path, monkeypatch):
    import jupytext
    import papermill

    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path / "cache"))
    nb = jupytext.read(helpers.ROOT / "book" / "templates" / "run.md")
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), parameters=dict(TINY, latent_dm=5),
                                   kernel_name="python3", progress_bar=False)
    assert info.value.ename == "ConfigError"
    assert "unknown parameter 'latent_dm' (did you mean 'latent_dim'?)" in info.value.evalue
    assert "\n" not in info.value.evalue
    assert not (tmp_path / "cache").exists() or run_folders(tmp_path / "cache") == []  # nothing trained


def test_notebook_config_ignores_ipython_names_and_rejects_a_float_seed():
    from vae_mnist.config import notebook_config

    ns = dict(TINY, data_dir=None, seed=0)
    assert notebook_config(ns) == RunConfig(**TINY)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        notebook_config(dict(ns, seed=1.5))
    with pytest.raises(ConfigError, match="unknown parameter 'epoch'"):
        notebook_config(dict(ns, epoch=3))


# --------------------------------------------------------------------------------------
# a run's models open without the package; the package's import changes nothing
# --------------------------------------------------------------------------------------
_PLAIN_KERAS = """
import sys, json
import numpy as np
import keras
encoder = keras.models.load_model(sys.argv[1] + "/encoder.keras")
decoder = keras.models.load_model(sys.argv[1] + "/decoder.keras")
x = np.load(sys.argv[2])
mean, log_var = encoder(x)
pixels = keras.ops.sigmoid(decoder(mean))
np.savez(sys.argv[3], mean=np.asarray(mean), log_var=np.asarray(log_var), pixels=np.asarray(pixels))
print(json.dumps({"vae_mnist": any(m.startswith("vae_mnist") for m in sys.modules),
                  "layers": sorted({type(l).__name__ for m in (encoder, decoder) for l in m.layers})}))
"""


def test_a_runs_encoder_and_decoder_open_in_plain_keras_and_agree_with_its_vae(trained, tmp_path):
    """README: ``encoder.keras`` and ``decoder.keras`` load with ``keras.models.load_model`` in a fresh
    interpreter that never imports vae_mnist, hold standard layers only, and map images to the same code
    means and the same pixels as the run's VAE."""
    from vae_mnist import load_model

    x = np.random.default_rng(0).random((16, 784), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([sys.executable, "-c", _PLAIN_KERAS, str(trained), str(tmp_path / "x.npy"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"vae_mnist": False, "layers": ["Dense", "InputLayer"]}
    out = np.load(tmp_path / "out.npz")
    vae = load_model(trained / "model.keras")
    mean, log_var = (np.asarray(t) for t in vae.encode(x))
    np.testing.assert_allclose(out["mean"], mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["log_var"], log_var, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["pixels"], np.asarray(vae.decode(mean)), rtol=0, atol=1e-6)


def test_importing_the_package_starts_no_tensorflow_and_patches_nothing():
    """``import vae_mnist`` (and every subpackage face) imports no TensorFlow or Keras, adds no import
    hook and writes no environment variable."""
    code = ("import os, sys; env = dict(os.environ); hooks = list(sys.meta_path); import vae_mnist, "
            "vae_mnist.core, vae_mnist.store, vae_mnist.jobs, vae_mnist.build, vae_mnist.cli, vae_mnist.core.data; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules), sys.meta_path == hooks, "
            "dict(os.environ) == env)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True", "True"]


# --------------------------------------------------------------------------------------
# data without ../shared
# --------------------------------------------------------------------------------------
def _stand_in():
    rng = np.random.default_rng(0)
    return ((rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000, dtype=np.uint8)),
            (rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000, dtype=np.uint8)))


def test_loader_without_a_data_folder_falls_back_to_keras_download(tmp_path, monkeypatch):
    import keras

    from vae_mnist.core.data import load_dataset

    monkeypatch.delenv("VAE_MNIST_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ../shared anywhere near
    stand_in = _stand_in()
    calls = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: calls.append(1) or stand_in)
    d = load_dataset("mnist")
    assert calls == [1] and d.source == "keras.datasets.mnist"
    np.testing.assert_array_equal(d.x_test[0], stand_in[1][0][0].reshape(784).astype("float32") / 255)
    np.testing.assert_array_equal(d.y_train, stand_in[0][1])
    assert d.x_train.shape == (60000, 784)


def test_failed_download_without_a_data_folder_is_one_line(monkeypatch):
    import keras

    from vae_mnist.core.data import load_dataset

    monkeypatch.delenv("VAE_MNIST_DATA_DIR", raising=False)

    def offline():
        raise OSError("Temporary failure in name resolution\nmore detail")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    msg = str(info.value)
    assert "\n" not in msg and "could not download mnist" in msg and "VAE_MNIST_DATA_DIR" in msg


def test_test_helpers_find_data_without_shared(monkeypatch, tmp_path):
    """helpers.copy_mnist_files writes the official files back from the arrays when there is no data folder."""
    from vae_mnist.core.data import load_dataset

    monkeypatch.setattr(helpers, "DATA_DIR", None)
    folder = helpers.copy_mnist_files(tmp_path / "mnist")
    d = load_dataset("mnist", folder)  # passes the package's SHA-256 checks
    np.testing.assert_array_equal(d.y_test, helpers.mnist().y_test)


def test_half_written_run_pages_of_dead_processes_are_removed(tmp_path):
    from vae_mnist.build.pages import remove_stale_pages

    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout)
    dead = tmp_path / f".mnist-a.tmp-{dead_pid}.ipynb"
    live = tmp_path / f".mnist-b.tmp-{os.getpid()}.ipynb"
    old_unowned = tmp_path / ".mnist-c.tmp.ipynb"   # the name older versions used: no PID, judged by age
    new_unowned = tmp_path / ".mnist-d.tmp.ipynb"
    page = tmp_path / "mnist-e.ipynb"
    for p in (dead, live, old_unowned, new_unowned, page):
        p.write_text("{}")
    two_hours_ago = time.time() - 7200
    os.utime(old_unowned, (two_hours_ago, two_hours_ago))
    removed = remove_stale_pages(tmp_path)
    assert sorted(removed) == sorted([dead, old_unowned])
    assert live.exists() and new_unowned.exists() and page.exists()


def test_a_run_damaged_after_its_first_use_in_this_process_is_still_caught(cache):
    config = RunConfig(**TINY)
    first = runs.get_run(config, progress=None, data=helpers.mnist(), root=cache)  # fully checked, remembered
    assert runs.check_run(first.path) is None
    _damage(first.path / "model.keras", "flipped")
    said = []
    runs.get_run(config, progress=said.append, data=helpers.mnist(), root=cache)
    assert any(" is damaged (model.keras: " in s for s in said), said
    assert any(s.startswith("epoch   1/1") for s in said)


# --------------------------------------------------------------------------------------
# the classifiers are entries of the same store
# --------------------------------------------------------------------------------------
_CLASSIFIER_TRAINER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    import numpy as np
    from vae_mnist.measures.classifier import ClassifierConfig, get_classifier

    barrier = os.environ.get("BARRIER")
    said = []
    def say(line):
        said.append(line)
        print(line, file=sys.stderr, flush=True)
        if barrier and "classifier epoch" in line:
            while not os.path.exists(barrier):   # hold the lock, mid-training, until the test says go
                time.sleep(0.05)
    clf = get_classifier(config=ClassifierConfig(**json.loads(sys.argv[1])), progress=say)
    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in clf.model.get_weights())).hexdigest()
    print(json.dumps({"trained": any(s.startswith("training the") for s in said),
                      "waited": any(s.startswith("waiting") for s in said),
                      "weights": digest, "path": str(clf.path), "key": clf.key}))
""")


@pytest.mark.slow
def test_two_processes_asking_for_one_classifier_train_it_once(tmp_path):
    cache = tmp_path / "cache"
    config = dict(epochs=2, train_subset=500, test_subset=100)
    env = helpers.data_env()
    env["VAE_MNIST_CACHE_DIR"] = str(cache)
    barrier = tmp_path / "go"
    args = [sys.executable, "-c", _CLASSIFIER_TRAINER, json.dumps(config)]
    first = subprocess.Popen(args, env=dict(env, BARRIER=str(barrier)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = None
    try:
        Lines(first.stderr).wait_for(lambda l: "classifier epoch 1/" in l)  # first holds the lock, mid-training
        assert temporaries(cache / ".classifiers"), "the classifier is not trained in a temporary folder"
        second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        Lines(second.stderr).wait_for(lambda l: l.startswith("waiting for another process"))
        barrier.touch()
        out1, out2 = first.stdout.read(), second.stdout.read()
        first.wait(300)
        second.wait(300)
    finally:
        barrier.touch()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
    assert first.returncode == 0 and second.returncode == 0
    r1, r2 = json.loads(out1.splitlines()[-1]), json.loads(out2.splitlines()[-1])
    assert r1["trained"] and not r2["trained"] and r2["waited"]
    assert r1["weights"] == r2["weights"] and r1["path"] == r2["path"] and r1["key"] == r2["key"]
    assert run_folders(cache / ".classifiers") == [Path(r1["path"]).name]
    assert temporaries(cache / ".classifiers") == []


def test_a_damaged_or_stale_classifier_is_moved_aside_and_retrained(tmp_path, monkeypatch):
    from vae_mnist.measures import classifier

    config = classifier.ClassifierConfig(epochs=1, train_subset=300, test_subset=100)
    first = classifier.get_classifier(config=config, data=helpers.mnist(), root=tmp_path, progress=None)
    (first.path / classifier.MODEL_FILE).write_bytes((first.path / classifier.MODEL_FILE).read_bytes()[:500])
    said = []
    again = classifier.get_classifier(config=config, data=helpers.mnist(), root=tmp_path, progress=said.append)
    assert any("is damaged (classifier.keras:" in s and "moved aside" in s for s in said), said
    assert any(s.startswith("training the") for s in said)
    assert len(list((tmp_path / ".classifiers").glob(config.name() + ".damaged-*"))) == 1
    monkeypatch.setattr(classifier, "code_hash", lambda: "0123456789abcdef")
    said = []
    classifier.get_classifier(config=config, data=helpers.mnist(), root=tmp_path, progress=said.append)
    assert any("stale" in s and "other classifier code" in s for s in said), said
    assert again.path.name == config.name()


def test_only_tensorflows_start_up_lines_are_left_out_of_a_commands_one_line():
    """The tests' reading of stderr drops TensorFlow's two pre-logging start-up lines and nothing of ours."""
    err = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
           "I0000 00:00:1796360534.557 123 port.cc:153] oneDNN custom operations are on.\n"
           "vae-mnist: terminated by SIGTERM (nothing half-finished was kept in the run cache)\n"
           "WARNING: something of ours\n")
    assert helpers.our_lines(err) == ["vae-mnist: terminated by SIGTERM (nothing half-finished was kept in the run cache)",
                                      "WARNING: something of ours"]
