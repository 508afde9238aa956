"""The package as a whole: public surface, import hygiene, docs and CI agree."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dyno

ROOT = Path(__file__).resolve().parent.parent

BASE = {"dyno.clock", "dyno.utils"}
# Module -> the dyno modules it may import (besides itself and the package), after SPEC
# "Mix and match". Primitives use only the clock and utils (aspect also the registry);
# composites use the primitives they compose.
PRIMITIVES: dict[str, set[str]] = {
    "dyno.utils": set(),
    "dyno.clock": {"dyno.utils"},
    "dyno.aspect": BASE | {"dyno.registry"},
    "dyno.breaker": BASE,
    "dyno.cache": BASE,
    "dyno.harness": BASE,
    "dyno.metrics": BASE,
    "dyno.registry": BASE,
    "dyno.retry": BASE,
    "dyno.timing": BASE,
    "dyno.injection": BASE | {"dyno.retry", "dyno.registry"},
    "dyno.service": BASE
    | {"dyno.breaker", "dyno.retry", "dyno.metrics", "dyno.harness", "dyno.timing"},
}
# The applications built on the toolkit: free to import any of it.
APPLICATIONS = {"dyno.__main__", "dyno.demo", "dyno.dashboard"}
# Never imported by dyno: test tools, the plugin, and the optional extras (imported lazily).
FORBIDDEN = ("pytest", "_pytest", "hypothesis", "pytest_dyno", "redis", "prometheus_client")


def _all_dyno_modules() -> set[str]:
    """Every module and subpackage of dyno on disk (submodules of subpackages folded in)."""
    names = set()
    for path in (ROOT / "dyno").iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            names.add(f"dyno.{path.stem}")
        elif (path / "__init__.py").exists():
            names.add(f"dyno.{path.name}")
    return names


def _run(code: str) -> str:
    """Run *code* in a fresh interpreter from the project root and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _dyno_modules_after_import(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'dyno' or m.startswith('dyno.'))))"
    )
    return set(json.loads(_run(code)))


def test_every_module_has_an_import_rule() -> None:
    """Each dyno module is in the import table or is an application, so none goes unchecked."""
    assert _all_dyno_modules() == set(PRIMITIVES) | APPLICATIONS


@pytest.mark.parametrize("module", sorted(PRIMITIVES))
def test_primitive_imports_only_its_allowed_dyno_modules(module: str) -> None:
    """A module imported alone loads only the dyno modules it may use (see the table above)."""
    loaded = _dyno_modules_after_import(module)
    allowed = {"dyno", module} | PRIMITIVES[module]
    assert loaded <= allowed, f"{module} also imports {sorted(loaded - allowed)}"


def test_import_dyno_is_lazy() -> None:
    """import dyno alone loads no dyno module: the re-exports import on first use."""
    assert _dyno_modules_after_import("dyno") == {"dyno"}


def test_import_dyno_stays_light() -> None:
    """Importing dyno and every module in it imports no pytest, hypothesis, plugin or extra."""
    modules = " ".join(f"import {name};" for name in sorted(_all_dyno_modules()))
    code = (
        f"import sys; import dyno; {modules} "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}); "
        "print(','.join(bad))"
    )
    assert _run(code).strip() == ""


def test_dunder_all_matches_what_exists() -> None:
    """dyno.__all__ and every module's __all__ name only things that exist, and dir shows them."""
    for name in dyno.__all__:
        assert getattr(dyno, name) is not None
    assert set(dyno.__all__) <= set(dir(dyno))
    for module_name in PRIMITIVES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


def test_no_export_shadows_a_submodule() -> None:
    """No top-level name is also a submodule, whose import would replace it."""
    submodules = {path.stem for path in (ROOT / "dyno").iterdir()}
    assert not submodules & set(dyno.__all__)


def test_unknown_attribute_raises() -> None:
    """A missing top-level name raises AttributeError as usual."""
    with pytest.raises(AttributeError, match="module 'dyno' has no attribute 'nope'"):
        dyno.nope  # noqa: B018  # the attribute access is the test


def test_lazy_exports_are_the_module_objects() -> None:
    """dyno.X is the very object defined in its module."""
    from dyno.clock import FakeClock

    assert dyno.FakeClock is FakeClock


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.rst").read_text()
    section = text.split("Quick start\n-----------\n", 1)[1].split("\n-----", 1)[0]
    return re.findall(r"^\.\. code-block:: console\n\n    (.+)$", section, flags=re.MULTILINE)


def test_readme_quick_start_has_exactly_two_commands() -> None:
    """The quick start is exactly two commands: the demo and the whole test suite."""
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("python -m dyno demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's test command verbatim, then ruff and mypy."""
    ci = (ROOT / ".ci" / "run").read_text()
    ci_lines = [line.strip() for line in ci.splitlines()]
    assert _quick_start_commands()[1] in ci_lines
    assert "DYNO_REQUIRE_SERVICES=1" in ci
    for tool in ("ruff check", "ruff format --check", "mypy --strict"):
        assert tool in ci
