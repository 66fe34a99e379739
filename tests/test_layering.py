"""lam_envs defines the tasks' dynamics and must stay usable without any RL or scale-out library: it never imports
SB3, lam_agents or Ray (rollout workers live in lam_agents), nor accelerate (data-parallel pretraining runs on plain
torch.distributed; only the ``lam pretrain`` command starts the process group through accelerate)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lam_envs

FORBIDDEN = ("stable_baselines3", "sb3_contrib", "lam_agents", "ray", "accelerate")
# transformers imports accelerate by itself whenever it is installed, so for accelerate only lam_envs's own code
# (below, every import statement, lazy ones inside functions included) can be pinned, not the loaded modules.
NOT_LOADED = tuple(n for n in FORBIDDEN if n != "accelerate")


def test_importing_every_lam_envs_module_loads_no_rl_or_scale_out_library() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import lam_envs\n"
        "for m in pkgutil.walk_packages(lam_envs.__path__, 'lam_envs.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {NOT_LOADED!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == ""


def _imported_packages(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_lam_envs_source_file_imports_them_even_lazily() -> None:
    root = Path(lam_envs.__file__).parent
    bad = {str(p.relative_to(root)): sorted(_imported_packages(p.read_text()) & set(FORBIDDEN))
           for p in sorted(root.rglob("*.py"))}
    assert {path: names for path, names in bad.items() if names} == {}


def test_the_source_check_sees_a_lazy_import() -> None:
    assert _imported_packages("def f():\n    from accelerate import PartialState\n    import ray.util\n") == {
        "accelerate", "ray"}
