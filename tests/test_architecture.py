"""The layers of docs/architecture.md: no module imports a later layer at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import kerasgene

PACKAGE = Path(kerasgene.__file__).parent

#: docs/architecture.md's layers, first to last; a module may import its own layer and
#: the ones before it.
LAYERS = (
    {"kerasgene", "errors", "_io", "dna", "metrics"},
    {"systems"},
    {"config"},
    {"io"},
    {"datasets"},
    {"simulate"},
    {"models"},
    {"train"},
    {"tuning", "explain", "serving"},
    {"cli", "demo", "__main__"},
)


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "kerasgene"
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f"{module}: in no layer of docs/architecture.md")


def _module_level_imports(path: Path) -> list[str]:
    out = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kerasgene"):
            out += [node.module] if node.module != "kerasgene" else \
                   [f"kerasgene.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("kerasgene")]
    return out


def test_no_module_imports_a_later_layer():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        for target in _module_level_imports(path):
            if _layer(target) > _layer(module):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_catalog_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, kerasgene.systems, kerasgene.simulate, kerasgene.io.genome; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'kerasgene.models', "
            "'kerasgene.train') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
