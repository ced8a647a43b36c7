"""The package's import graph has no cycle.

Every ``import`` of a ``charrnn`` module by another counts — at module level and inside
functions (a function-level import is still a dependency, only a late one) — except
those under ``if TYPE_CHECKING:``, which never run.  Importing ``charrnn.a.b`` also
depends on the package ``charrnn.a`` (its ``__init__`` runs first)."""

from __future__ import annotations

import ast
import pathlib

import charrnn

PACKAGE = pathlib.Path(charrnn.__file__).resolve().parent


def module_name(path: pathlib.Path) -> str:
    parts = ["charrnn", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The ``charrnn`` modules that the module at ``path`` imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}

    def add(target: str) -> None:
        # The module itself, or the package whose name is imported; and the packages on
        # the way to it (their __init__ runs first), except the importer's own.
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        found.add(target)
        parts = target.split(".")
        for i in range(1, len(parts)):
            package = ".".join(parts[:i])
            if package not in ancestors:
                found.add(package)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("charrnn."):
                        add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                if source == "charrnn" or source.startswith("charrnn."):
                    for alias in child.names:  # `from . import x` imports the module x
                        full = f"{source}.{alias.name}"
                        add(full if full in modules else source)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths} | {"charrnn._core"}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a list of modules (empty: none)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return []


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_a_submodule_importing_the_package_is_a_cycle_the_check_finds():
    # `from . import __version__` inside a submodule was one of the old cycles: the
    # package's __init__ imports the submodule, which imports the package back.
    graph = {"charrnn": {"charrnn.checkpoint"}, "charrnn.checkpoint": {"charrnn"}}
    assert find_cycle(graph) == ["charrnn", "charrnn.checkpoint", "charrnn"]


def test_no_submodule_imports_the_package_itself():
    graph = import_graph()
    assert [m for m, deps in graph.items() if "charrnn" in deps] == []


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "charrnn.text" in graph["charrnn.model"]  # CharRNN.generate_text imports it when called
    assert "charrnn.training.trainer" in graph["charrnn.training"]


if __name__ == "__main__":  # print the graph (for docs/architecture.md)
    for module, deps in sorted(import_graph().items()):
        print(f"{module}: {', '.join(sorted(d for d in deps if d != 'charrnn._core')) or '-'}")
