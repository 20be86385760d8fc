"""The package's structure: no import cycles between rlvr's parts (its modules and subpackages, each taken
whole: `rlvr.tasks` and `rlvr.rewards` are one node each)."""

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "rlvr"


def module_name(path: Path) -> str:
    parts = ["rlvr", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """rlvr modules imported when `name` is imported: its top-level import statements (imports inside
    functions run later, on purpose), each `from pkg import sub` that names a submodule, and its parent package."""
    deps = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name.startswith("rlvr")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("rlvr"):
                deps.add(base)
                deps |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
    return {d for d in deps if d in known and d != name}


def part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycles():
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = {part(d) for d in module_level_imports(path, name, set(files))} - {part(name)}
        graph.setdefault(part(name), set()).update(deps)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
