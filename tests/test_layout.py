"""The layout keeps its shape: imports run one way, no import circles, kernels stay pure.

The import graph is read from the source with :mod:`ast` (imports inside functions count: a lazy
import is still a dependency). Each module belongs to a *room* — a subpackage of ``daq``, or one
of the top-level packages — and ``ALLOWED`` says which rooms a room may import. It is the rule
that docs/architecture.md states; change both together.

``daq.catalogue`` (the run catalogue's database) reads run files (``daq.runfile``) and nothing above;
the supervisor (``daq.control``) owns its writer thread, and the fit (``analysis``) selects runs
from it (a dataset's ``[data.select]``), so both may import it; so may the GUI (``monitor``:
the long-term trends read its DQ history).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("daq", "monitor", "analysis", "simulators", "hwconfig")

BASE = {"daq", "daq.dtypes", "daq.config"}  # ``daq`` itself holds only __version__
ALLOWED: dict[str, set[str]] = {
    "daq": set(),
    "daq.dtypes": set(),
    "daq.config": set(),
    "daq.ops": set(),
    "daq.kernels": {"daq.dtypes"},
    "daq.wire": BASE,
    "daq.hardware": BASE,
    "daq.runfile": BASE | {"daq.kernels"},
    "daq.stages": BASE | {"daq.kernels"},
    "daq.replay": BASE | {"daq.runfile", "daq.hardware"},
    "daq.processes": BASE | {"daq.stages", "daq.kernels", "daq.runfile", "daq.wire", "daq.hardware", "daq.ops"},
    "daq.catalogue": BASE | {"daq.runfile"},
    "daq.cluster": BASE | {"daq.stages", "daq.kernels", "daq.processes", "daq.replay", "daq.runfile", "daq.hardware",
                           "daq.ops", "analysis"},
    "daq.control": BASE | {"daq.kernels", "daq.runfile", "daq.wire", "daq.hardware", "daq.ops", "daq.catalogue"},
    "analysis": BASE | {"daq.runfile", "daq.catalogue"},
    "simulators": BASE | {"daq.hardware", "analysis"},
    "monitor": BASE | {"daq.wire", "daq.runfile", "daq.control", "daq.catalogue"},
    "hwconfig": set(),
}
CLI = "daq.cli"  # imports anything; nothing imports it

# kernels are pure functions over arrays: nothing that reaches sockets, files, config or processes
KERNEL_THIRD_PARTY = {"numpy", "numba", "scipy", "math", "dataclasses", "typing", "collections", "__future__"}
NO_IO = {"zmq", "h5py", "hdf5plugin", "socket", "subprocess", "os", "io", "pathlib", "threading"}
# the one infrastructure module of the kernels' room: it hashes the package's own sources for the numba cache
KERNEL_INFRA = {"daq.kernels.jit_cache": {"hashlib", "pathlib"}}


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = REPO) -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            out[module_name(path, root)] = path
    return out


def imports_of(path: Path, name: str) -> Iterator[tuple[str, int]]:
    """Every module name ``path`` imports (absolute, as written, relative ones resolved), with its line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from daq.kernels import features`` imports a module
                yield f"{base}.{alias.name}", node.lineno


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module ``target`` names (the longest known prefix), or None for third-party."""
    parts = target.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "daq":
        return parts[0]
    return ".".join(parts[:2])


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line}, self-imports of a package's own __init__ left out."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(path, name):
            found = resolve(target, modules)
            if found is not None and found != name:
                edges.setdefault(found, line)
        graph[name] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_of(module: str, modules: dict[str, Path]) -> str:
    """A package's own __init__ belongs to it; a module's package is its parent."""
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def forbidden(graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> list[str]:
    """Every import that breaks the room rule, as 'file:line: a -> b (why)'."""
    bad = []
    for a, edges in graph.items():
        for b, line in edges.items():
            where = f"{modules[a]}:{line}: {a} -> {b}"
            ra, rb = room(a), room(b)
            if rb == CLI and ra != CLI:
                bad.append(f"{where} (nothing imports the CLI)")
            elif ra == CLI or ra == rb:
                continue
            elif rb not in ALLOWED.get(ra, set()):
                bad.append(f"{where} ({ra} may import only {sorted(ALLOWED.get(ra, set())) or 'nothing of ours'})")
    return bad


def impure_kernels(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in modules.items():
        if room(name) != "daq.kernels":
            continue
        for target, line in imports_of(path, name):
            top = target.split(".")[0]
            if top in KERNEL_INFRA.get(name, set()):
                continue
            if resolve(target, modules) is None and top not in KERNEL_THIRD_PARTY:
                bad.append(f"{path}:{line}: a kernel imports {target}")
    return bad


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return project_modules()


def test_the_import_graph_has_no_circles(modules: dict[str, Path]) -> None:
    found = circles(import_graph(modules))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_imports_run_one_way(modules: dict[str, Path]) -> None:
    bad = forbidden(import_graph(modules), modules)
    assert not bad, "imports against the layout (docs/architecture.md):\n" + "\n".join(bad)


def test_kernels_import_no_sockets_files_or_config(modules: dict[str, Path]) -> None:
    bad = impure_kernels(modules)
    assert not bad, "\n".join(bad)


def test_stages_touch_no_sockets_or_files(modules: dict[str, Path]) -> None:
    bad = [f"{path.relative_to(REPO)}:{line}: {target}" for name, path in modules.items()
           if room(name) == "daq.stages" for target, line in imports_of(path, name)
           if target.split(".")[0] in NO_IO]
    assert not bad, "\n".join(bad)


def test_every_room_is_a_documented_package(modules: dict[str, Path]) -> None:
    """Every room in the rule exists, and every subpackage's __init__ says what lives there."""
    for name in [*ALLOWED, CLI]:
        assert name in modules, f"{name}: named in the layout rule but not a module"
    for name, path in modules.items():
        if (name in ALLOWED or name == CLI) and name not in ("daq.dtypes", "hwconfig"):
            doc = ast.get_docstring(ast.parse(path.read_text()))
            assert doc and "may import" in doc.lower(), \
                f"{path}: its docstring must say what lives there and may import"


def test_daq_top_level_holds_only_init_config_and_dtypes() -> None:
    top = sorted(p.name for p in (REPO / "daq").glob("*.py"))
    assert top == ["__init__.py", "dtypes.py"]
    assert (REPO / "daq" / "config" / "__init__.py").is_file()


def test_no_module_is_over_500_lines(modules: dict[str, Path]) -> None:
    long = {str(p.relative_to(REPO)): n for p in modules.values() if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"split by responsibility: {long}"


# -- the checker checks: a broken layout is caught ---------------------------------------------------
def write_tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return {module_name(root / rel, root): root / rel for rel in files}


def test_a_kernel_importing_the_cli_is_caught(tmp_path: Path) -> None:
    modules = write_tree(tmp_path, {
        "daq/__init__.py": "", "daq/dtypes.py": "", "daq/kernels/__init__.py": "",
        "daq/kernels/features.py": "from daq.cli import main\nimport zmq\n",
        "daq/cli/__init__.py": "", "daq/cli/main.py": "from daq.kernels import features\n",
    })
    graph = import_graph(modules)
    assert any("daq.kernels.features -> daq.cli" in b and "nothing imports the CLI" in b
               for b in forbidden(graph, modules))
    assert ["daq.cli.main", "daq.kernels.features"] in circles(graph)
    assert any("a kernel imports zmq" in b for b in impure_kernels(modules))


def test_the_gui_importing_a_cli_module_is_caught(tmp_path: Path) -> None:
    modules = write_tree(tmp_path, {
        "daq/__init__.py": "", "daq/cli/__init__.py": "", "daq/cli/main.py": "",
        "monitor/__init__.py": "", "monitor/stream.py": "def f():\n    from daq.cli.main import request\n",
    })
    assert any("monitor.stream -> daq.cli.main" in b for b in forbidden(import_graph(modules), modules))


def test_a_processes_room_importing_control_is_caught(tmp_path: Path) -> None:
    modules = write_tree(tmp_path, {
        "daq/__init__.py": "", "daq/processes/__init__.py": "", "daq/control/__init__.py": "",
        "daq/control/supervisor.py": "", "daq/processes/recorder.py": "from daq.control import supervisor\n",
    })
    assert any("daq.processes.recorder -> daq.control.supervisor" in b
               for b in forbidden(import_graph(modules), modules))
