"""No import cycles among sbweb's modules.

A cycle means two layers that each need the other: the import order decides which half-loaded
module the other sees, and a change far away breaks start-up. An import moved into a function
body still ties the two modules together, only later, so every import counts here wherever it
is written (only `if TYPE_CHECKING:` blocks are left out: they never run). A cycle is fixed by
moving what both need into a lower module, not by hiding the import.

Read from the source with ast, nothing imported: `from sbweb.x import y` is an edge to
sbweb.x.y when that is a module, else to sbweb.x; relative imports are resolved the same way.
"""

import ast
from pathlib import Path

import sbweb

PACKAGE = Path(sbweb.__file__).parent


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every .py under the package at `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif not _type_checking(child):
            yield from _imports(child)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per dot after the first
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module → the package's modules it imports (anywhere in its body)."""
    modules = module_files(root)
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                while target and target not in modules:  # sbweb.x.name → sbweb.x
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    inside = set(component)
    return "\n".join(f"  {m} -> {', '.join(sorted(graph[m] & inside))}" for m in component)


def test_sbweb_has_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles among sbweb's modules:\n" + "\n\n".join(describe(graph, c) for c in found)


def test_the_check_sees_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("import os\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from pkg.low import os\nfrom . import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import low\n"
        "def later():\n    from pkg.sub.a import thing\n"
    )
    graph = import_graph(package)
    assert graph["pkg.sub.a"] == {"pkg.low", "pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.sub.a"}  # the TYPE_CHECKING import is left out
    assert cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]
