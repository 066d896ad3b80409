"""The package's layers, as ``vae_mnist``'s docstring states them: each subpackage imports only from
itself, from the layers above it and from the root modules; no cycles; no private name imported from
another module; no module over 400 lines; and the TensorFlow line drawn by layer (the root, ``store``,
``jobs``, ``build`` and ``cli`` import model code only inside functions).

The checks read the sources (imports inside functions count) and are applied to a copy of the package
with a planted violation, so each is seen to fail.
"""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vae_mnist

PACKAGE = Path(vae_mnist.__file__).parent
#: top to bottom: a layer may import from the layers before it in this list
LAYERS = ["root", "core", "figures", "store", "measures", "widgets", "jobs", "build", "cli"]
#: layers that may not import model code (Keras, TensorFlow, or a module that does) at module level
NO_MODEL_AT_IMPORT = {"root", "store", "jobs", "build", "cli"}
#: modules of the model layers that import no TensorFlow themselves
MODEL_FREE = {"vae_mnist.core.data", "vae_mnist.core.per_image", "vae_mnist.figures.style"}
MAX_LINES = 400


def module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["vae_mnist"] + parts)


def layer_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "root"


def imports(package: Path):
    """``(module, imported module, imported names, at module level)`` for every import of the package."""
    out = []
    for path in sorted(package.rglob("*.py")):
        mod = module_name(package, path)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [a.name for a in node.names]
                out.append((mod, target, names, id(node) in top))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    out.append((mod, a.name, [], id(node) in top))
    return out


def is_module(package: Path, name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (package / rel).with_suffix(".py").is_file() or (package / rel / "__init__.py").is_file()


def resolve(package: Path, target: str, names):
    """The package modules an import statement brings in (``from .x import y`` may name module y)."""
    if not target.startswith("vae_mnist"):
        return []
    found = [f"{target}.{n}" for n in names if is_module(package, f"{target}.{n}")]
    return found or ([target] if is_module(package, target) else [])


def violations(package: Path) -> list:
    found = []
    graph = {}
    for mod, target, names, top in imports(package):
        src_layer = layer_of(mod)
        for dep in resolve(package, target, names):
            graph.setdefault(mod, set()).add(dep)
            dep_layer = layer_of(dep)
            lazy_api = mod == "vae_mnist" and not top  # the package's load_model() imports the model when called
            if dep_layer != "root" and LAYERS.index(dep_layer) > LAYERS.index(src_layer) and not lazy_api:
                found.append(f"upward: {mod} imports {dep}")
            if top and src_layer in NO_MODEL_AT_IMPORT and dep_layer not in NO_MODEL_AT_IMPORT \
                    and dep not in MODEL_FREE and not dep.endswith("." + dep_layer) and dep != f"vae_mnist.{dep_layer}":
                found.append(f"model code at import: {mod} imports {dep} at module level")
        if target.split(".")[0] in ("tensorflow", "keras") and top and layer_of(mod) in NO_MODEL_AT_IMPORT:
            found.append(f"model code at import: {mod} imports {target} at module level")
        if target.startswith("vae_mnist") or target.startswith("."):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                found.append(f"private names across modules: {mod} imports {private} from {target}")
    for path in sorted(package.rglob("*.py")):
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            found.append(f"too long: {module_name(package, path)} has {n} lines")
    cycle = find_cycle(graph)
    if cycle:
        found.append("cycle: " + " -> ".join(cycle))
    return found


def find_cycle(graph: dict):
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, stack + [dep])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_import_graph_is_read():
    deps = {(m, d) for m, t, n, _ in imports(PACKAGE) for d in resolve(PACKAGE, t, n)}
    assert ("vae_mnist.store.runs", "vae_mnist.config") in deps
    assert ("vae_mnist.core.model", "vae_mnist.core.losses") in deps


def test_the_package_keeps_its_layers():
    assert violations(PACKAGE) == []


def test_every_subpackage_is_a_layer_with_a_public_face():
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == sorted(LAYERS[1:])
    for name in subpackages:
        face = __import__(f"vae_mnist.{name}", fromlist=["__all__"])
        assert face.__all__, name
        assert all(not n.startswith("_") for n in face.__all__), name


@pytest.mark.parametrize("plant, expected", [
    (("jobs/planted.py", "from ..build import pages\n"), "upward: vae_mnist.jobs.planted imports vae_mnist.build.pages"),
    (("store/planted.py", "import keras\n"), "model code at import: vae_mnist.store.planted imports keras"),
    (("store/planted.py", "from ..core import model\n"), "model code at import: vae_mnist.store.planted imports vae_mnist.core.model"),
    (("figures/planted.py", "from .style import _private\n"), "private names across modules"),
    (("core/planted.py", "x = 1\n" * 401), "too long: vae_mnist.core.planted"),
    (("core/planted.py", "from . import losses\n"), None),
], ids=["upward", "keras-in-store", "model-in-store", "private", "long", "allowed"])
def test_a_planted_violation_is_found(tmp_path, plant, expected):
    copy = tmp_path / "vae_mnist"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / plant[0]).write_text(plant[1])
    found = violations(copy)
    if expected is None:
        assert found == []
    else:
        assert any(v.startswith(expected) for v in found), found


def test_the_tensorflow_free_layers_import_without_tensorflow():
    """Every module of the root, store, jobs, build and cli imports without starting TensorFlow or Keras
    (what keeps ``vae-mnist --help``, ``list`` and Dask workers fast), and so do the lazy faces."""
    names = [module_name(PACKAGE, p) for p in sorted(PACKAGE.rglob("*.py"))
             if layer_of(module_name(PACKAGE, p)) in NO_MODEL_AT_IMPORT or p.name == "__init__.py"]
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n"
            "    importlib.import_module(n)\n"
            "    bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "    assert not bad, (n, bad)\n"
            "print(len(sys.argv))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
