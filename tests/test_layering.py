"""lam_envs defines the tasks' dynamics and must stay usable without any RL library: it never imports SB3."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_lam_envs_module_loads_no_rl_library() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import lam_envs\n"
        "for m in pkgutil.walk_packages(lam_envs.__path__, 'lam_envs.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('stable_baselines3', 'sb3_contrib'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == ""
