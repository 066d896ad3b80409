"""The vae-mnist command line: every bad input gives status 2 and one line; a good one trains and caches."""
import gzip
import json
import subprocess
import sys

import pytest

import helpers

TINY = ["--epochs", "1", "--batch-size", "100", "--train-subset", "500", "--test-subset", "100"]


def cli(*args, env=None, tmp_cache=None):
    e = helpers.data_env()
    if tmp_cache is not None:
        e["VAE_MNIST_CACHE_DIR"] = str(tmp_cache)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "vae_mnist.cli.main", *args], capture_output=True, text=True,
                          env=e, timeout=300, stdin=subprocess.DEVNULL)


def assert_clear_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = helpers.our_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "error" in lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("args, fragment", [
    (["--latent-dim", "0"], "latent-dim"),
    (["--latent-dim", "-3"], "latent-dim"),
    (["--latent-dim", "abc"], "'abc'"),
    (["--epochs", "0"], "epochs"),
    (["--epochs", "-1"], "epochs"),
    (["--batch-size", "0"], "batch-size"),
    (["--data-dir", "/no/such/folder"], "/no/such/folder"),
])
def test_bad_training_input_exits_2_with_one_line(args, fragment, tmp_path):
    assert_clear_error(cli("train", *args, tmp_cache=tmp_path), fragment)
    assert not any(tmp_path.iterdir())


def test_corrupt_data_exits_2_with_one_line_naming_the_file(tmp_path):
    folder = helpers.copy_mnist_files(tmp_path / "data")
    bad = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[5000] ^= 0xFF
    bad.write_bytes(gzip.compress(bytes(raw)))
    result = cli("train", *TINY, "--data-dir", str(folder), tmp_cache=tmp_path / "cache")
    assert_clear_error(result, "t10k-images-idx3-ubyte.gz", "checksum")
    assert not (tmp_path / "cache").exists() or not [p for p in (tmp_path / "cache").iterdir()
                                                      if not p.name.endswith(".lock")]


def test_unknown_run_exits_2(tmp_path):
    assert_clear_error(cli("evaluate", "no-such-run", tmp_cache=tmp_path), "no-such-run")
    assert_clear_error(cli("sample", "no-such-run", "--n", "4", tmp_cache=tmp_path), "no-such-run")
    assert_clear_error(cli("sample", "x", "--n", "0", tmp_cache=tmp_path), "--n")


@pytest.mark.slow
def test_train_json_then_cached_then_evaluate_and_sample(tmp_path):
    first = cli("train", "--latent-dim", "2", *TINY, "--json", tmp_cache=tmp_path)
    assert first.returncode == 0, first.stderr
    metrics = json.loads(first.stdout.strip().splitlines()[-1])
    for key in ("latent_dim", "epochs", "batch_size", "seed", "test_neg_elbo", "test_reconstruction",
                "test_kl", "seconds_per_epoch"):
        assert key in metrics
    assert metrics["latent_dim"] == 2 and metrics["epochs"] == 1 and metrics["batch_size"] == 100
    assert "epoch   1/1" in first.stderr  # progress, kept off stdout when --json
    run_dirs = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(run_dirs) == 1 and str(run_dirs[0]) in first.stdout

    second = cli("train", "--latent-dim", "2", *TINY, "--json", tmp_cache=tmp_path)
    assert second.returncode == 0
    assert "epoch" not in second.stderr and "cached" in second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1]) == metrics

    ev = cli("evaluate", run_dirs[0].name, "--json", tmp_cache=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert abs(json.loads(ev.stdout.strip().splitlines()[-1])["test_neg_elbo"] - metrics["test_neg_elbo"]) < 1e-3

    out = tmp_path / "samples.png"
    sm = cli("sample", str(run_dirs[0]), "--n", "16", "-o", str(out), tmp_cache=tmp_path)
    assert sm.returncode == 0, sm.stderr
    assert out.stat().st_size > 1000
