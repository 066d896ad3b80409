"""The GitHub Actions workflow that builds and publishes the book: valid, and doing what the README says."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import ROOT, check_schema

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def check_jsonschema(path: Path):
    return check_schema(path, "vendor.github-workflows")


def test_workflow_validates_against_the_github_schema():
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_workflow(tmp_path):
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["build"]["runs-on"] = {"not": "valid"}
    del broken["jobs"]["build"]["steps"]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    assert check_jsonschema(path).returncode != 0


def test_workflow_runs_the_readme_commands_caches_runs_and_deploys():
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.strip() == "make test" for r in runs)
    book = next(i for i, r in enumerate(runs) if r.strip().split(" ")[:2] == ["make", "book"])
    assert runs.index("make test") < book
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == ".cache/runs"
    key = cache["with"]["key"]
    assert "hashFiles(" in key and "src/**" in key and "requirements-lock.txt" in key
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    deploy_steps = wf["jobs"]["deploy"]["steps"]
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in deploy_steps)
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"


def test_workflow_gets_mnist_without_a_shared_folder():
    """A runner has no ../shared: the data come from Keras's download, fetched and cached before the tests."""
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["build"]["steps"]
    assert "VAE_MNIST_DATA_DIR" not in wf["jobs"]["build"].get("env", {})
    assert "shared/data" not in WORKFLOW.read_text()  # no path into a ../shared folder
    runs = [s.get("run", "") for s in steps]
    fetch = next(i for i, r in enumerate(runs) if "load_dataset" in r)
    assert fetch < runs.index("make test")
    assert any(s.get("with", {}).get("path") == "~/.keras/datasets" for s in steps)


def test_run_cache_restores_the_newest_cache_by_prefix_and_reports_what_it_reused():
    """A source edit must not retrain everything: the cache falls back to the newest one sharing the key's
    prefix (the package's code hash then decides which runs are stale), and the workflow reports reuse."""
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["build"]["steps"]
    cache = next(s for s in steps if s.get("with", {}).get("path") == ".cache/runs")
    key = cache["with"]["key"]
    prefixes = [line.strip() for line in cache["with"].get("restore-keys", "").splitlines() if line.strip()]
    assert prefixes, "the run cache has no restore-keys: any source edit retrains every run"
    assert all(key.startswith(p) and "hashFiles" not in p for p in prefixes), (key, prefixes)
    runs = [s.get("run", "") for s in steps]
    snap = next(i for i, r in enumerate(runs) if "cache-report.py snapshot" in r)
    compare = next(i for i, r in enumerate(runs) if "cache-report.py compare" in r)
    assert steps.index(cache) < snap < next(i for i, r in enumerate(runs) if r.startswith("make book")) < compare


def test_cache_report_tells_reused_from_trained(tmp_path, monkeypatch):
    import subprocess

    cache = tmp_path / "runs"
    for name in ("kept", "edited", "gone"):
        (cache / name).mkdir(parents=True)
        (cache / name / "model.keras").write_bytes(name.encode())
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(cache))
    script = [sys.executable, str(ROOT / "scripts" / "cache-report.py")]
    subprocess.run(script + ["snapshot", str(tmp_path / "before.json")], check=True, capture_output=True)
    (cache / "edited" / "model.keras").write_bytes(b"retrained")
    (cache / "gone").rename(cache / "gone.stale-20261201")
    (cache / "new").mkdir()
    (cache / "new" / "model.keras").write_bytes(b"new")
    out = subprocess.run(script + ["compare", str(tmp_path / "before.json")], check=True, capture_output=True,
                         text=True).stdout
    assert "1 runs reused, 2 trained" in out
    assert "- reused (1): `kept`" in out and "- retrained (1): `edited`" in out and "- trained (1): `new`" in out
    assert "set aside or removed) (1): `gone`" in out


def test_workflow_builds_the_pdf_after_the_book_and_publishes_it_with_the_html():
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    book = next(i for i, r in enumerate(runs) if r.startswith("make book"))
    pdf = next(i for i, r in enumerate(runs) if "make pdf" in r)
    upload = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert book < pdf < upload
    assert "cp _build/pdf/book.pdf _build/html/" in runs[pdf]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^pdf:.*\n(\t.*\n)*\t\$\(BIN\)/vae-mnist pdf", makefile, re.M)


def step(steps, words: str) -> dict:
    return next(s for s in steps if words in s.get("name", ""))


def run_step(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_compare_steps_fetch_the_published_ledger_and_write_the_diff_into_the_job_summary(tmp_path):
    """The workflow's own scripts, run here: the published ledger is fetched from html_base_url (a file:// book
    here), the build is told to compare with it, and the job summary gets `vae-mnist diff --markdown`'s report;
    with no published ledger, the summary says so and the build compares with nothing."""
    import json
    import os
    import shutil

    from test_ledger import BASE, ledger_of

    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["build"]["steps"]
    names = [s.get("name", "") for s in steps]
    fetch, build, summary = (step(steps, w) for w in ("ledger of the published", "Build the book", "job summary"))
    assert names.index(fetch["name"]) < names.index(build["name"]) < names.index(summary["name"])
    assert names.index(summary["name"]) < names.index(next(n for n in names if "Upload the HTML" in n))
    published = tmp_path / "site"
    work = tmp_path / "work"
    ledger_of(published, BASE)
    shutil.copy2(published / "_build" / "results.json", published / "results.json")
    ledger_of(work, dict(BASE, nll=147.5), word="smaller")
    (work / "_config.yml").write_text(f"html:\n  baseurl: {published.as_uri()}/\n")
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = dict(os.environ, RUNNER_TEMP=str(tmp_path / "runner"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
    (tmp_path / "runner").mkdir()

    got = run_step(fetch["run"], work, env)
    assert got.returncode == 0 and "compared with file://" in got.stdout, got.stdout + got.stderr
    assert json.loads((tmp_path / "runner" / "published-results.json").read_text())["format"] == 1
    # the build step hands that ledger to make book (its command line, as bash expands it)
    make = build["run"].replace("make book", "echo make book", 1)
    assert run_step(make, work, env).stdout.strip() == f"make book COMPARE={tmp_path / 'runner' / 'published-results.json'}"
    got = run_step(summary["run"], work, env)
    assert got.returncode == 0, got.stdout + got.stderr
    text = (tmp_path / "summary.md").read_text()
    assert "## Results compared with the published book" in text
    assert "`book/loss:nll`: 146.831 -> 147.5" in text and "`'larger'` -> `'smaller'`" in text

    # a book that was never published: nothing to fetch, nothing to compare with, and the job goes on
    shutil.rmtree(published)
    (tmp_path / "summary.md").unlink()
    got = run_step(fetch["run"], work, env)
    assert got.returncode == 0 and "no published ledger" in got.stdout, got.stdout + got.stderr
    assert run_step(make, work, env).stdout.strip() == "make book COMPARE="
    got = run_step(summary["run"], work, env)
    assert got.returncode == 0 and "No published ledger to compare with." in (tmp_path / "summary.md").read_text()
