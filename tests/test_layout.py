"""Package layout invariants: method packages never import one another, shared pieces have their own modules, the
command line starts without importing the heavy stack, and the version lives in one place."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import clipedit

PACKAGE = Path(clipedit.__file__).resolve().parent
METHODS = ("draw", "styleclip", "style", "masked", "styledrop")


def imported_modules(py: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("method", METHODS)
def test_a_method_package_never_imports_another(method):
    others = [f"clipedit.{m}" for m in METHODS if m != method]
    for py in (PACKAGE / method).rglob("*.py"):
        bad = [n for n in imported_modules(py) if any(n == o or n.startswith(o + ".") for o in others)]
        assert not bad, f"{py.relative_to(PACKAGE)} imports {bad}"


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_drawing_and_editing_do_not_load_the_magenta_port():
    out = run_python("import sys, clipedit.draw, clipedit.styleclip, clipedit.losses; "
                     "print(sorted(m for m in sys.modules if m == 'clipedit.style' or m.startswith('clipedit.style.') "
                     "or m == 'tflite'))")
    assert out == "[]"


def test_masked_generation_loads_diffusers_only_when_used():
    out = run_python("import sys, clipedit.masked, clipedit.styledrop, clipedit.cli; clipedit.cli.build_parser(); "
                     "print('diffusers' in sys.modules, 'transformers' in sys.modules, 'peft' in sys.modules)")
    assert out == "False False False"


def test_styledrop_reaches_magenta_through_the_shared_models_module():
    out = run_python("import sys, clipedit.styledrop, clipedit.models.magenta; "
                     "print(sorted(m for m in sys.modules if m == 'clipedit.style' or m.startswith('clipedit.style.')))")
    assert out == "[]"


def test_the_command_line_starts_without_torch():
    out = run_python("import sys, clipedit.cli; clipedit.cli.build_parser(); print('torch' in sys.modules)")
    assert out == "False"


def test_argument_errors_are_refused_without_importing_torch(tmp_path):
    """A rejected prompt, path or size answers before the 2-second torch import (CPU or default device)."""
    rows = [["draw", ""], ["guide", "  "], ["generate", ""], ["vqgan", ""], ["edit", ""],
            ["draw", "a cat", "--out", str(tmp_path)], ["guide", "a cat", "--size", "100000"],
            ["draw", "a cat", "--canvas", "100000", "--device", "cpu"], ["draw", "a cat", "--paths", "0"]]
    out = run_python("import sys, contextlib, io\nfrom clipedit.cli import main\n"
                     f"for row in {rows!r}:\n"
                     "    with contextlib.redirect_stderr(io.StringIO()):\n"
                     "        rc = main(row)\n"
                     "    print(rc, 'torch' in sys.modules)")
    assert out.splitlines() == ["2 False"] * len(rows)


def test_version_lives_in_one_place():
    from importlib.metadata import version

    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "version = {attr" in pyproject
    assert version("clipedit") == clipedit.__version__


def test_the_old_alias_modules_are_gone():
    import importlib

    for old in ("clipedit.pixels", "clipedit.style.layers", "clipedit.style.losses", "clipedit.style.magenta",
                "clipedit.style.tflite_graph", "clipedit.eval", "clipedit.training.shapes_guide"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)


def _library_modules():
    return [py for py in PACKAGE.rglob("*.py") if "assets" not in py.parts]


def test_the_library_never_imports_the_lab():
    for py in _library_modules():
        bad = [n for n in imported_modules(py) if n == "lab" or n.startswith("lab.")]
        assert not bad, f"{py.relative_to(PACKAGE)} imports {bad}"


def test_only_the_command_line_has_a_main_block():
    for py in _library_modules():
        if py.parent.name == "cli":
            continue
        tree = ast.parse(py.read_text())
        mains = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert not mains, f"{py.relative_to(PACKAGE)} has a __main__ block: scripts belong in lab/"


def test_no_library_file_is_over_600_lines():
    for py in _library_modules():
        n = len(py.read_text().splitlines())
        assert n <= 600, f"{py.relative_to(PACKAGE)} has {n} lines"


def _unit(module: str) -> str | None:
    """The subpackage (``clipedit.draw``) or top-level module (``clipedit.optim``) a module name belongs to."""
    parts = module.split(".")
    if parts[0] != "clipedit" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def test_no_import_cycle_among_subpackages():
    """Subpackages and top-level modules form a graph with no cycle (every import counted, lazy ones too)."""
    graph: dict[str, set[str]] = {}
    for py in _library_modules():
        rel = py.relative_to(PACKAGE.parent).with_suffix("")
        me = _unit(".".join(rel.parts if rel.name != "__init__" else rel.parts[:-1]))
        if me is None:
            continue
        deps = {_unit(n) for n in imported_modules(py)} - {None, me, "clipedit.cli"}
        graph.setdefault(me, set()).update(deps)
    if "clipedit.cli" in graph:  # the CLI sits on top of everything
        del graph["clipedit.cli"]
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_method_code_never_recognises_a_model_by_its_name():
    """No comparison in method code involves a model's name or a shapes-world string: a model carries its own
    recommended settings (``model.recommended``, from the weights table)."""
    for method in METHODS:
        for py in (PACKAGE / method).rglob("*.py"):
            for node in ast.walk(ast.parse(py.read_text())):
                if not isinstance(node, ast.Compare):
                    continue
                operands = [node.left, *node.comparators]
                text = [o.value for o in operands if isinstance(o, ast.Constant) and isinstance(o.value, str)]
                assert not any("shapes" in t or t.startswith("clipedit/") for t in text), \
                    f"{py.relative_to(PACKAGE)}:{node.lineno} compares with {text}"
                names = [o.attr for o in operands if isinstance(o, ast.Attribute)]
                assert not {"name", "source"} & set(names), \
                    f"{py.relative_to(PACKAGE)}:{node.lineno} compares a model's {names}"


def test_every_downloadable_file_is_in_the_one_table():
    import clipedit.models  # noqa: F401
    from clipedit.losses.perceptual import _torchvision_weights  # noqa: F401
    from clipedit.style.arbitrary import MAGENTA_FILES
    from clipedit.styleclip.identity import ARCFACE
    from clipedit.styleclip.loaders import GENERATORS
    from clipedit.weights import WEIGHTS

    for spec in [*MAGENTA_FILES.values(), ARCFACE, *GENERATORS.values()]:
        assert WEIGHTS[spec.name] is spec
    amused = [w for w in WEIGHTS.values() if w.name.startswith("amused/amused-256:")]
    assert len(amused) >= 9 and all(w.url and w.licence == "openrail++" and w.method == "masked" for w in amused)
    for name in ("ViT-B/32", "RN50", "vgg16-imagenet", "vgg19-imagenet", "open_clip:ViT-B-16-SigLIP/webli"):
        row = WEIGHTS[name]
        assert row.url and row.size and row.licence and row.method
    for row in WEIGHTS.values():
        assert row.method in ("clip", "magenta", "styleclip", "perceptual", "style", "masked"), row
