#!/usr/bin/env python3
"""The locked environment: ``requirements-lock.txt`` and the ``environment.yml`` made from it.

    python scripts/lock.py             # re-lock what pyproject.toml asks for (newest versions allowed by
                                       # the lock's old pins where they still fit), then write environment.yml
    python scripts/lock.py --upgrade   # re-lock from scratch: the newest versions pyproject.toml allows
    python scripts/lock.py --check     # no network: the lock satisfies pyproject.toml and
                                       # environment.yml is the one made from the lock (the tests call this)

The lock is a hashed requirements file written by ``uv pip compile --universal`` (one file for every
platform, with environment markers; uv's version is pinned below so the same inputs give the same
file). Plain pip installs it (``pip install --require-hashes -r requirements-lock.txt``), so neither
``make`` nor the conda route needs uv; only re-locking does, and this script fetches it into
``.cache/lock-tool``. After writing, the lock is resolved once more per platform the book supports
with binary wheels only, so a lock that would make a Mac or an ARM Linux box compile TensorFlow from
source fails here, not on a reader's machine.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
EXTRAS = ("book", "test")
PYTHON = "3.11"
UV_VERSION = "0.13.9"
# The platforms the lock is checked for: Linux x86-64 and ARM, macOS on Apple silicon.
PLATFORMS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64-apple-darwin")
COMMAND = "python scripts/lock.py"

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(text: str | None = None) -> list[tuple[str, str, str]]:
    """``(name, version, marker)`` for every pinned line of the lock (marker ``""`` when none)."""
    text = LOCK.read_text() if text is None else text
    out = []
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            out.append((m.group(1), m.group(2), (m.group(3) or "").strip()))
    return out


def for_this_platform(entries=None) -> dict[str, str]:
    """``{canonical name: version}`` of the lock's entries whose markers hold on this interpreter."""
    from packaging.markers import Marker

    pins = {}
    for name, version, marker in (lock_entries() if entries is None else entries):
        if not marker or Marker(marker).evaluate():
            pins[canonical(name)] = version
    return pins


def project_requirements() -> list[str]:
    """Every requirement of pyproject.toml: the package's own and its ``book`` and ``test`` extras."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return reqs


def disagreements() -> list[str]:
    """Where the lock and pyproject.toml disagree: a requirement with no pin, or a pin it does not allow."""
    from packaging.requirements import Requirement

    pinned: dict[str, list[tuple[str, str]]] = {}
    for name, version, marker in lock_entries():
        pinned.setdefault(canonical(name), []).append((version, marker))
    problems = []
    for text in project_requirements():
        req = Requirement(text)
        pins = pinned.get(canonical(req.name))
        if not pins:
            problems.append(f"{req.name}: asked for by pyproject.toml ({text!r}) but not in the lock")
            continue
        for version, _ in pins:
            if not req.specifier.contains(version, prereleases=True):
                problems.append(f"{req.name}=={version} in the lock does not satisfy {text!r}")
    return problems


def environment_yml(entries=None) -> str:
    """environment.yml, made from the lock: conda gives Python and pip, pip installs the locked versions."""
    lines = [
        "# Generated from requirements-lock.txt by `python scripts/lock.py`: do not edit by hand.",
        "#   conda env create -f environment.yml && conda activate vae-mnist",
        "#   vae-mnist book            # or: python -m pytest",
        "# Conda provides Python and pip; pip installs exactly the locked versions (the same pins as",
        "# `make venv`, with their environment markers, so one file serves Linux x86-64 and ARM and",
        "# macOS on Apple silicon), then this project itself. The lock's hashes are checked by the",
        "# `make` route; pip cannot check hashes in the same call that installs the project (-e .).",
        "name: vae-mnist",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    for name, version, marker in (lock_entries() if entries is None else entries):
        line = f"{name}=={version}" + (f" ; {marker}" if marker else "")
        lines.append(f"      - {_yaml_quote(line)}")
    lines.append("      - -e .")
    return "\n".join(lines) + "\n"


def environment_yml_pip_lines(text: str | None = None) -> list[str]:
    """The pip section of environment.yml, one requirement line each (what conda hands to pip)."""
    import yaml

    env = yaml.safe_load(ENVIRONMENT.read_text() if text is None else text)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [str(x) for x in pip]


def _yaml_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'" if any(c in s for c in ":#'\"") else s


def check() -> list[str]:
    problems = disagreements()
    if ENVIRONMENT.read_text() != environment_yml():
        problems.append(f"environment.yml is not the one made from the lock: run {COMMAND}")
    return problems


def _uv() -> list[str]:
    tool = ROOT / ".cache" / "lock-tool"
    exe = tool / ("Scripts/uv.exe" if sys.platform == "win32" else "bin/uv")
    if not exe.is_file():
        print(f"lock: installing uv {UV_VERSION} into {tool.relative_to(ROOT)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(tool)], check=True)
        pip = tool / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
        subprocess.run([str(pip), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True)
    return [str(exe)]


def relock(upgrade: bool) -> None:
    uv = _uv()
    cmd = uv + ["pip", "compile", str(PYPROJECT.relative_to(ROOT))]
    for extra in EXTRAS:
        cmd += ["--extra", extra]
    cmd += ["--universal", "--python-version", PYTHON, "--generate-hashes", "--quiet",
            "--custom-compile-command", COMMAND + (" --upgrade" if upgrade else ""),
            "-o", LOCK.name]
    if upgrade:
        cmd.append("--upgrade")
    print("lock: " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    for platform in PLATFORMS:
        # Every pin must install from a binary wheel on every platform the book supports.
        result = subprocess.run(uv + ["pip", "compile", LOCK.name, "--python-platform", platform,
                                      "--python-version", PYTHON, "--only-binary", ":all:",
                                      "--no-header", "--no-annotate"],
                                cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"lock: the lock does not install from wheels on {platform}:\n{result.stderr}")
        print(f"lock: {platform}: {sum('==' in l for l in result.stdout.splitlines())} packages, all wheels")
    ENVIRONMENT.write_text(environment_yml())
    print(f"lock: wrote {LOCK.name} ({len(lock_entries())} pins) and {ENVIRONMENT.name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--upgrade", action="store_true", help="newest versions pyproject.toml allows")
    group.add_argument("--check", action="store_true", help="check lock, pyproject.toml and environment.yml agree")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for p in problems:
            print(f"lock: {p}", file=sys.stderr)
        return 1 if problems else 0
    relock(args.upgrade)
    problems = check()
    for p in problems:
        print(f"lock: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
