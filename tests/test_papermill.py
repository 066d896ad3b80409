"""The run template executed with papermill (`vae-mnist run`): a non-default configuration works, bad parameters
fail clearly."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import DATA_DIR, ROOT, vae_mnist_command

pytestmark = pytest.mark.slow  # (make test-quick leaves this module out)

TEMPLATE = ROOT / "book" / "templates" / "run.md"
TINY = dict(latent_dim=3, epochs=1, batch_size=100, train_subset=500, test_subset=200)


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(cache))
    if DATA_DIR is not None:
        monkeypatch.setenv("VAE_MNIST_DATA_DIR", str(DATA_DIR))
    return cache


def test_vae_mnist_run_executes_the_template_for_a_non_default_configuration(tmp_path, private_cache):
    """`vae-mnist run` (README) with a latent size and a binarization that are not the defaults: the run is
    trained into the cache, the page is executed by papermill, and its text says what was run."""
    from vae_mnist import RunConfig
    from vae_mnist.build.pages import run_notebook
    from vae_mnist.store.runs import run_path

    config = RunConfig(**TINY, binarize="dynamic")
    # a page half-written by a process that no longer exists is removed when the next one starts
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout)
    out = tmp_path / "runs"
    out.mkdir()
    leftover = out / f".{config.name()}.tmp-{dead_pid}.ipynb"
    leftover.write_text("{}")
    args = ["run", "--latent-dim", "3", "--binarize", "dynamic", "--epochs", "1", "--batch-size", "100",
            "--train-subset", "500", "--test-subset", "200", "--output-dir", str(out)]
    result = subprocess.run(vae_mnist_command() + args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not leftover.exists() and not list(out.glob(".*.ipynb"))
    page = out / f"{config.name()}.ipynb"
    assert f"executed run page: {page}" in result.stdout and "-bin-" in page.name
    assert run_path(config).is_dir(), "the run was not trained into the cache"
    nb = nbformat.read(page, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["papermill"]["parameters"]["latent_dim"] == 3
    assert nb.metadata["papermill"]["parameters"]["binarize"] == "dynamic"
    assert nb.metadata["vae_mnist"]["config"] == config.to_dict()
    assert nb.metadata["vae_mnist"]["stamp"]
    # the raw parameter cells are hidden, a readable block replaces them
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert "latent_dim = 3" in injected[0].source
    block = next(c for c in nb.cells if c.cell_type == "markdown" and "Parameters of this run" in c.source)
    assert "| `latent_dim` | **3** | 20 |" in block.source
    assert "| `binarize` | **dynamic** | none |" in block.source
    assert "vae-mnist run --latent-dim 3 --epochs 1" in block.source and "--binarize dynamic" in block.source
    assert nb.cells[0].source.startswith("# Run: z = 3 (") and "dynamic binarization" in nb.cells[0].source
    # every code cell ran, none failed, and the figures are there
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "stderr in the run page"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, "expected learning curves and samples (no manifold for z = 3)"
    assert any("This run has a 3-dimensional latent space" in o.get("data", {}).get("text/markdown", "")
               for o in outputs)
    # unchanged: the page is not executed again
    mtime = page.stat().st_mtime_ns
    messages = []
    assert run_notebook(config, output_dir=out, progress=messages.append) == page
    assert page.stat().st_mtime_ns == mtime
    assert any("up to date" in m for m in messages)


# ("abc" through a kernel, with its message: the papermill command-line test below)
@pytest.mark.parametrize("value, message", [(0, "latent_dim must be a positive integer (at least 1), got 0")])
def test_bad_parameter_fails_with_a_clear_message(tmp_path, private_cache, value, message):
    import jupytext
    import papermill

    nb = jupytext.read(TEMPLATE)
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(nb, str(tmp_path / "bad.ipynb"), parameters=dict(TINY, latent_dim=value),
                                   kernel_name="python3", progress_bar=False)
    assert info.value.ename == "ConfigError"
    assert message in str(info.value)
    assert not any(private_cache.glob("*")) if private_cache.exists() else True  # nothing trained


def test_papermill_command_line_with_a_bad_parameter_exits_non_zero(tmp_path, private_cache):
    bindir = Path(sys.executable).parent
    cmd = (f"{shlex.quote(str(bindir / 'jupytext'))} --to ipynb --set-kernel python3 {shlex.quote(str(TEMPLATE))} -o - "
           f"| {shlex.quote(str(bindir / 'papermill'))} - {shlex.quote(str(tmp_path / 'out.ipynb'))} "
           f"-p latent_dim abc --no-progress-bar")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                            env=dict(os.environ), timeout=300)
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "latent_dim must be a positive integer, got 'abc'" in result.stderr


@pytest.mark.parametrize("value", ["0", "abc"])
def test_cli_run_with_a_bad_latent_size(value, private_cache):
    result = subprocess.run(vae_mnist_command() + ["run", "--latent-dim", value], capture_output=True, text=True)
    assert result.returncode == 2
    assert "latent-dim" in result.stderr and "positive integer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
