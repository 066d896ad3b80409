#!/usr/bin/env bash
# The conda route without conda: a fresh venv holding exactly what environment.yml's pip section lists
# (installed the way conda hands it to pip: `pip install -U -r <the section>` from the file's folder),
# then a smoke build of the whole book in a temporary copy and the quick test tier.
#
#   scripts/try-environment-yml.sh [WORK_DIR]     (default: a new temporary folder)
#
# Conda itself adds only Python 3.11 and pip (environment.yml's conda section). Prints each step's
# result; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
WORK="${1:-$(mktemp -d)}"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"
echo "try-environment-yml: working in $WORK"

"$PY" -m venv "$WORK/venv"
# environment.yml's pip section, one requirement per line (YAML parsed with the venv's own PyYAML later;
# here a plain reader: every line "      - <requirement>" after "  - pip:")
"$PY" - "$ROOT/environment.yml" > "$WORK/pip-section.txt" <<'EOF'
import sys
lines, inside = open(sys.argv[1]).read().splitlines(), False
for line in lines:
    if line.strip() == "- pip:":
        inside = True
        continue
    if inside and line.startswith("      - "):
        item = line[len("      - "):]
        if item.startswith("'") and item.endswith("'"):
            item = item[1:-1].replace("''", "'")
        print(item)
EOF
echo "try-environment-yml: $(wc -l < "$WORK/pip-section.txt") requirement lines"
(cd "$ROOT" && "$WORK/venv/bin/python" -m pip install --quiet -U -r "$WORK/pip-section.txt")
"$WORK/venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$WORK/venv/bin/python" -m pip freeze --exclude-editable > "$WORK/freeze.txt"
echo "try-environment-yml: installed $(wc -l < "$WORK/freeze.txt") packages"

"$WORK/venv/bin/python" - "$WORK/book" <<'EOF'
import sys
from pathlib import Path
from vae_mnist.build.html_book import copy_book
copy_book(Path(sys.argv[1]), Path.cwd())
EOF
export VAE_MNIST_CACHE_DIR="$WORK/runs" VAE_MNIST_PROFILE=smoke
start=$(date +%s)
"$WORK/venv/bin/vae-mnist" book --profile smoke --root "$WORK/book" > "$WORK/book.log" 2>&1 \
    || { tail -40 "$WORK/book.log"; echo "try-environment-yml: smoke build FAILED"; exit 1; }
echo "try-environment-yml: smoke build passed in $(( $(date +%s) - start )) s ($WORK/book/_build/html)"

if [ -n "${QUICK_TESTS:-}" ]; then set -- $QUICK_TESTS; else set -- -m "not slow"; fi   # the quick tier
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider "$@" > "$WORK/tests.log" 2>&1 \
    || { tail -40 "$WORK/tests.log"; echo "try-environment-yml: quick tests FAILED"; exit 1; }
echo "try-environment-yml: quick tests: $(tail -1 "$WORK/tests.log")"
