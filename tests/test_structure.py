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


def test_no_import_cycles_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
