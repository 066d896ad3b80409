"""The package's structure: no import cycles between its modules (counting imports inside functions).

A cycle (``runs`` -> ``evaluation`` -> ``runs``) means two modules can only be understood together;
the package is layered instead: data and model at the bottom, the book's build at the top.
"""
import ast
from pathlib import Path

import vae_mnist

PACKAGE = Path(vae_mnist.__file__).parent


def import_graph() -> dict:
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        name = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vae_mnist."):
                deps.add(node.module.split(".")[1])
        deps.discard("__init__")
        graph[name] = {d for d in deps if (PACKAGE / f"{d}.py").is_file() and d != name}
    return graph


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


def test_the_graph_is_read():
    graph = import_graph()
    assert "runs" in graph["book"] or "runs" in graph["pages"], graph
    assert "config" in graph["runs"]


def test_every_relative_import_names_a_module_of_the_package():
    """(A renamed module leaves no import of its old name behind, even inside a function.)"""
    missing = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                name = node.module.split(".")[0]
                if not (PACKAGE / f"{name}.py").is_file() and not (PACKAGE / name).is_dir():
                    missing.setdefault(path.name, []).append(name)
    assert missing == {}, missing


def test_no_import_cycles_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None


MAX_LINES = 400


def test_no_module_is_over_400_lines():
    long = {p.name: n for p in PACKAGE.glob("*.py") for n in [len(p.read_text().splitlines())] if n > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split them along their jobs): {long}"


def readme_layout_modules() -> list:
    """The modules the README's "Package layout" table names, row by row (bottom layer first)."""
    import re

    readme = (PACKAGE.parent.parent / "README.md").read_text()
    section = readme.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.findall(r"`([a-z_]+)`", row.split("|")[1]) for row in rows]


def test_the_readme_layout_table_names_every_module_once():
    named = [m for row in readme_layout_modules() for m in row]
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert sorted(named) == modules, (f"in the README but not the package: {sorted(set(named) - set(modules))}; "
                                      f"in the package but not the README: {sorted(set(modules) - set(named))}")
    assert len(named) == len(set(named)), "a module is named twice in the README's layout table"


def test_no_module_imports_one_from_a_later_row_of_the_readme_layout_table():
    """The README reads the table bottom to top: a module imports only from its own row or rows above."""
    row = {m: i for i, r in enumerate(readme_layout_modules()) for m in r}
    graph = import_graph()
    upward = [f"{a} imports {b}" for a, deps in sorted(graph.items()) if a in row
              for b in sorted(deps) if row.get(b, -1) > row[a]]
    assert not upward, f"imports against the README's layers: {upward}"
