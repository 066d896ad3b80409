"""The locked environment: the lock agrees with pyproject.toml, environment.yml is made from it, the venv is
exactly the lock, the README's commands without make are the Makefile's, and runs record their versions."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from importlib import metadata


from helpers import ROOT


def load_lock_script():
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = load_lock_script()


def test_lock_pyproject_and_environment_yml_agree():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_check_fails_when_pyproject_asks_for_what_the_lock_lacks(tmp_path, monkeypatch):
    text = (ROOT / "pyproject.toml").read_text()
    changed = text.replace('"numpy>=1.26,<3",', '"numpy>=1.26,<2",').replace(
        'test = [\n', 'test = [\n    "pytest-randomly>=3",\n')
    assert changed.count("numpy>=1.26,<2") == 1 and "pytest-randomly" in changed
    (tmp_path / "pyproject.toml").write_text(changed)
    monkeypatch.setattr(lock, "PYPROJECT", tmp_path / "pyproject.toml")
    problems = lock.disagreements()
    assert any(p.startswith("numpy==") and "numpy<2,>=1.26" in p or "'numpy>=1.26,<2'" in p for p in problems), problems
    assert any(p.startswith("pytest-randomly: asked for by pyproject.toml") for p in problems), problems


def test_the_check_fails_when_environment_yml_is_edited_by_hand(tmp_path, monkeypatch):
    env = tmp_path / "environment.yml"
    env.write_text((ROOT / "environment.yml").read_text().replace("keras==", "keras>="))
    monkeypatch.setattr(lock, "ENVIRONMENT", env)
    assert any("environment.yml is not the one made from the lock" in p for p in lock.check())


def test_environment_yml_installs_exactly_the_lock_then_the_project():
    """conda hands the pip section to pip: the same pins (and markers) as the lock, then the project."""
    from packaging.requirements import Requirement

    lines = lock.environment_yml_pip_lines()
    assert lines[-1] == "-e ."
    pinned = [Requirement(line) for line in lines[:-1]]
    entries = lock.lock_entries()
    assert len(pinned) == len(entries) > 100
    for req, (name, version, marker) in zip(pinned, entries):
        assert (req.name, str(req.specifier), str(req.marker or "")) == (name, f"=={version}", marker.replace("'", '"'))
    tf = {e[0] for e in entries if e[0].startswith("tensorflow")}
    assert tf == {"tensorflow", "tensorflow-cpu"}, "TensorFlow must be locked for x86-64 (cpu) and ARM / Apple silicon"


def test_this_environment_is_exactly_the_lock():
    """`make venv` installs the lock and nothing else: every distribution here is the locked version of it."""
    wanted = lock.for_this_platform()
    installed = {}
    for dist in metadata.distributions():
        name = lock.canonical(dist.metadata["Name"])
        if name not in ("vae-mnist", "pip"):
            installed[name] = dist.version
    missing = {n: v for n, v in wanted.items() if n not in installed}
    extra = {n: v for n, v in installed.items() if n not in wanted}
    different = {n: (installed[n], v) for n, v in wanted.items() if n in installed and installed[n] != v}
    assert not (missing or extra or different), (
        f"this environment is not the lock (rebuild it with `make venv`, or re-lock with "
        f"`python scripts/lock.py`): missing {missing}, not in the lock {extra}, other versions {different}")


def test_makefile_installs_from_the_lock_with_hashes():
    make = subprocess.run(["make", "-n", "-B", "venv"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "pip install --quiet --require-hashes -r requirements-lock.txt" in make
    assert "pip install --quiet --no-deps -e ." in make
    assert "-e \".[" not in make, "the project's dependencies must come from the lock, not a fresh resolve"


def readme_without_make() -> list:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**Without make**", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_readme_without_make_lists_the_makefile_commands():
    """Where make is absent, the README's commands are the ones the Makefile runs (make -n prints them)."""
    make = subprocess.run(["make", "-n", "-B", "venv", "book", "test", "PYTHON=python"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.replace(" --quiet", "")
    commands = readme_without_make()
    assert len(commands) >= 6, commands
    lines = {line.strip() for line in make.splitlines()}
    for command in commands:
        assert command in lines, f"README's {command!r} is not a command `make` runs:\n{make}"
    for needed in ("requirements-lock.txt", "vae-mnist book", "pytest"):
        assert any(needed in c for c in commands), needed


def test_software_versions_name_what_made_a_run():
    import keras
    import numpy
    import tensorflow as tf

    from vae_mnist.store.runs import SOFTWARE_KEYS, software_versions

    v = software_versions()
    assert tuple(v) == SOFTWARE_KEYS
    assert (v["tensorflow"], v["keras"], v["numpy"]) == (tf.__version__, keras.__version__, numpy.__version__)
    assert v["python"] == ".".join(map(str, sys.version_info[:3]))
