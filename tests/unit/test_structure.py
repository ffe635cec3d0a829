"""The package's shape: small modules and functions, a short top level, no import circles, and a
ground layer (core/) that imports nothing from the loop."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator" / "parley"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 100
MAX_TOP_LEVEL = 14


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside a function alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circles():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    # A package's __init__ importing its own modules is how it names its front door, not a circle.
    graph = {name: {m for m in deps if not (known[name].name == "__init__.py" and m.startswith(name + "."))}
             for name, deps in graph.items()}
    assert cycles(graph) == []


def test_the_ground_layer_imports_nothing_from_the_loop():
    known = modules()
    outside = {name: sorted(m for m in imports(path, known) if not m.startswith("parley.core"))
               for name, path in known.items() if name.startswith("parley.core")}
    assert {name: deps for name, deps in outside.items() if deps} == {}


def test_modules_and_functions_are_small():
    long_modules = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
                    if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long_functions[f"{path.relative_to(PACKAGE)}:{node.name}"] = lines
    assert long_modules == {} and long_functions == {}


def test_the_top_level_stays_short():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)
