"""No import cycles inside ``lava_spikingunet``.

Every ``import`` / ``from ... import`` of a package module counts, at module level and
inside functions or methods alike: a function-level import defers the import but keeps
the dependency, and a cycle hidden that way breaks as soon as one of its imports moves
to the top (the old ``fixed_point.quantize`` <-> ``reference`` cycle was one module-level
and one function-level import). Imports under ``if TYPE_CHECKING:`` never run and do not
count. Importing ``a.b.c`` also imports the packages ``a.b`` and ``a`` (their
``__init__``), so those count as well, except a module's own parent packages (which
Python has imported before the module itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "lava_spikingunet"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under package ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _imports(body: list[ast.stmt]):
    """Every import statement in ``body``, nested blocks and functions included, except
    those under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    yield from _imports(sub)


def _targets(node: ast.stmt, module: str, is_package: bool, modules: dict) -> list[str]:
    """The package modules an import statement names (``from m import sub`` names
    ``m.sub`` when that is a module)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join(parts[:keep] + ([node.module] if node.module else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    root = next(iter(modules)).split(".")[0]
    return [n for n in names if n.split(".")[0] == root]


def import_graph(root: Path) -> nx.DiGraph:
    """Module -> module it imports (and the packages on the way), for package ``root``."""
    modules = module_files(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _imports(tree.body):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]  # an attribute, not a module
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    own_parent = module.startswith(dep + ".")
                    if dep in modules and dep != module and (not own_parent or dep == target):
                        graph.add_edge(module, dep)
    return graph


def cycles(root: Path) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other."""
    graph = import_graph(root)
    groups = [g for g in nx.strongly_connected_components(graph) if len(g) > 1]
    return [nx.find_cycle(graph.subgraph(g)) for g in groups]


def test_the_package_has_no_import_cycle():
    found = cycles(PACKAGE)
    text = "\n".join(" -> ".join(a for a, _ in c) + f" -> {c[0][0]}" for c in found)
    assert not found, f"import cycles:\n{text}"


def test_the_walk_sees_the_package():
    graph = import_graph(PACKAGE)
    assert graph.has_edge("lava_spikingunet.pipeline.simulate", "lava_spikingunet.errors")
    assert graph.has_edge(  # a function-level import
        "lava_spikingunet.commands.simulate", "lava_spikingunet.pipeline.simulate"
    )


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import f\n",
            "pkg/b.py": "def f():\n    from pkg import a\n",
            "pkg/sub/__init__.py": "from .c import g\n",
            "pkg/sub/c.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.a import f\n",
        },
    )
    found = cycles(pkg)
    assert len(found) == 1 and {a for a, _ in found[0]} == {"pkg.a", "pkg.b"}
    assert import_graph(pkg).has_edge("pkg.sub", "pkg.sub.c")  # relative import
    assert not import_graph(pkg).has_edge("pkg.sub.c", "pkg.a")  # TYPE_CHECKING only


def test_a_cycle_through_a_package_init_is_found(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from pkg.sub.c import g\n",
            "pkg/sub/c.py": "import pkg.d\n",
            "pkg/d.py": "from pkg.sub import c\n",
        },
    )
    assert len(cycles(pkg)) == 1
