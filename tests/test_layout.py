"""The package's shape, checked: no import circles, the store behind the service, the
public API importable. Static (ast) checks over the source, so they cost milliseconds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dona

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "dona"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _import_graph() -> dict[str, set[str]]:
    """Module -> the dona modules it imports (at any depth, lazily or not), including the
    parent packages each import runs, except its own ancestors."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                target = resolve(name) if name.startswith("dona") else None
                while target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
                    target = target.rpartition(".")[0] or None
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = _import_graph()
    assert "dona.service" in graph["dona.cli"] or "dona.service.dona" in graph["dona.cli"]
    assert _cycles(graph) == []


def test_an_import_circle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_base_modules_import_no_backend():
    graph = _import_graph()
    backends = {
        "dona.embed.onnx", "dona.embed.sbert", "dona.index.f32", "dona.index.int8",
        "dona.index.binary", "dona.index.matryoshka", "dona.llm.extractive",
        "dona.llm.llamacpp", "dona.llm.openai_api", "dona.llm.rkllm.backend",
    }  # fmt: skip
    for base in ("dona.registry", "dona.embed.base", "dona.index.base", "dona.llm.base"):
        assert not graph[base] & backends, base


def test_only_the_service_and_the_store_touch_the_store():
    reach = re.compile(r"\.store\.\w")
    offenders = []
    for folder in ("dona", "ui", "evals"):
        for path in (REPO / folder).rglob("*.py"):
            relative = path.relative_to(REPO).as_posix()
            if relative.startswith(("dona/store/", "dona/service/")):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if reach.search(line) and not line.lstrip().startswith(("#", "from ", "import ")):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_public_api():
    assert "Dona" in dona.__all__ and "ChatEngine" in dona.__all__
    for name in dona.__all__:
        assert getattr(dona, name) is not None, name
    assert dona.Dona.__module__ == "dona.service.dona"


def test_test_modules_have_unique_names():
    """pytest imports test modules by basename (no packages under tests/): two files of
    the same name in different folders stop the whole collection."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
