#!/usr/bin/env python3
"""Which runs of the run cache a build reused and which it trained (used by the CI workflow).

    python scripts/cache-report.py snapshot before.json    # before the build: every run and its model's hash
    python scripts/cache-report.py compare before.json     # after it: reused / trained / set aside

The workflow restores the newest run cache whose key shares the prefix ``runs-<os>-`` and lets the
package decide what is stale (its code hash per run); this report shows what that decision was. It
reads the cache folder directly (``$VAE_MNIST_CACHE_DIR``, default ``.cache/runs``) and appends to
``$GITHUB_STEP_SUMMARY`` when that is set.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("VAE_MNIST_CACHE_DIR") or ".cache/runs")


def snapshot(folder: Path) -> dict:
    """``{run name: SHA-256 of its model.keras}`` for every finished run folder."""
    runs = {}
    if folder.is_dir():
        for run in sorted(folder.iterdir()):
            model = run / "model.keras"
            if run.is_dir() and not run.name.startswith(".") and "." not in run.name and model.is_file():
                runs[run.name] = hashlib.sha256(model.read_bytes()).hexdigest()
    return runs


def compare(before: dict, after: dict) -> dict:
    return {
        "reused": sorted(n for n in after if before.get(n) == after[n]),
        "retrained": sorted(n for n in after if n in before and before[n] != after[n]),
        "trained": sorted(n for n in after if n not in before),
        "not used (set aside or removed)": sorted(n for n in before if n not in after),
    }


def main(argv) -> int:
    if len(argv) != 2 or argv[0] not in ("snapshot", "compare"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    path = Path(argv[1])
    now = snapshot(cache_dir())
    if argv[0] == "snapshot":
        path.write_text(json.dumps(now, indent=1))
        print(f"run cache {cache_dir()}: {len(now)} finished runs restored")
        return 0
    report = compare(json.loads(path.read_text()), now)
    lines = [f"### Run cache: {len(report['reused'])} runs reused, "
             f"{len(report['trained']) + len(report['retrained'])} trained"]
    for what, names in report.items():
        lines.append(f"- {what} ({len(names)}): " + (", ".join(f"`{n}`" for n in names) or "none"))
    text = "\n".join(lines)
    print(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
