"""The two packages never import each other, and neither has an import cycle: every ``import`` of the
sources is read (module level and inside functions alike), so a lazy import cannot hide a cycle."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("htc", "critkl")


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from pkg import mod`` counts ``pkg.mod``)."""
    name, found = _module(path), set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names if _is_module(f"{mod}.{a.name}")}
    return found - {name}


def graph(package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports (a package importing its own submodules left out:
    that is how a package exposes them, not a cycle)."""
    out = {}
    for path in sorted((SRC / package).rglob("*.py")):
        name = _module(path)
        out[name] = {m for m in imports(path) if m.split(".")[0] == package and not m.startswith(name + ".")}
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    assert cycles(graph(package)) == []


@pytest.mark.parametrize("package,other", [("htc", "critkl"), ("critkl", "htc")])
def test_the_packages_never_import_each_other(package, other):
    crossing = {str(p.relative_to(SRC)): sorted(m for m in imports(p) if m.split(".")[0] == other)
                for p in sorted((SRC / package).rglob("*.py"))}
    assert {p: m for p, m in crossing.items() if m} == {}


def test_the_cycle_finder_finds_a_lazy_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
