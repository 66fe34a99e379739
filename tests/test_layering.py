"""lam_envs defines the tasks' dynamics and must stay usable without any RL or scale-out library: it never imports
SB3, lam_agents or Ray (rollout workers live in lam_agents), nor accelerate (data-parallel pretraining runs on plain
torch.distributed; only the ``lam pretrain`` command starts the process group through accelerate).

Building is kept apart from running: no runtime module (lam_envs outside ``lam_envs.builders``, and lam_agents)
imports the builders, except the commands that build assets, which import them inside the function that builds.

Agents use the env's public surface: lam_agents never reaches through a wrapper into an env's internals
(``.venv.setup``, ``.venv.config``, ``.unwrapped.venv``, an env's ``_private`` attribute)."""

from __future__ import annotations

import ast
import re
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


BUILDERS = "lam_envs.builders"
ASSET_COMMANDS = ("lam_agents/commands/build_default.py", "lam_agents/commands/pretrain.py")
"""The commands that build or install the shipped assets (``lam build-default``, ``lam pretrain --install``)."""


def _builder_imports(source: str) -> list[tuple[int, bool]]:
    """``(line, inside a function)`` of every import of :data:`BUILDERS` in ``source``."""
    tree = ast.parse(source)
    in_function = {id(node) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                   for node in ast.walk(fn) if node is not fn}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        if any(name == BUILDERS or name.startswith(BUILDERS + ".") for name in names):
            found.append((node.lineno, id(node) in in_function))
    return found


def _runtime_sources() -> dict[str, str]:
    """Every runtime source file by its repository path: lam_envs without its builders, and lam_agents."""
    import lam_agents

    repo = Path(lam_envs.__file__).parent.parent
    files = [*Path(lam_envs.__file__).parent.rglob("*.py"), *Path(lam_agents.__file__).parent.rglob("*.py")]
    builders = Path(lam_envs.__file__).parent / "builders"
    return {str(p.relative_to(repo)): p.read_text() for p in sorted(files) if builders not in p.parents}


def _runtime_modules() -> list[str]:
    """The dotted names of lam_envs's runtime modules."""
    names = [path.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for path in _runtime_sources()]
    return [name for name in names if name.startswith("lam_envs")]


def test_no_runtime_module_imports_the_builders() -> None:
    sources = _runtime_sources()
    assert "lam_envs/envs/conversation.py" in sources and "lam_agents/cli.py" in sources
    bad = {}
    for path, source in sources.items():
        found = _builder_imports(source)
        if path in ASSET_COMMANDS:
            found = [(line, inside) for line, inside in found if not inside]  # lazily, in the building function
        if found:
            bad[path] = [line for line, _ in found]
    assert bad == {}


def test_the_asset_commands_reach_the_builders_lazily() -> None:
    """The exception above is used, so the check that allows it cannot rot into allowing nothing."""
    sources = _runtime_sources()
    for path in ASSET_COMMANDS:
        assert _builder_imports(sources[path]) and all(inside for _, inside in _builder_imports(sources[path])), path


def test_the_builder_check_sees_every_import_form() -> None:
    source = ("import lam_envs.builders.tiny\nfrom lam_envs import builders\nfrom lam_envs.backbone import Backbone\n"
              "def f():\n    from lam_envs.builders.sft import collate\n")
    assert _builder_imports(source) == [(1, False), (2, False), (5, True)]


def test_importing_the_runtime_and_the_cli_loads_no_builder() -> None:
    code = (
        "import importlib, sys\n"
        # walk_packages would import lam_envs.builders itself to look inside it, so the names come from the files.
        f"for name in {_runtime_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "from lam_agents.cli import build_parser\n"
        "build_parser()\n"
        f"print(','.join(sorted(n for n in sys.modules if n.startswith({BUILDERS!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == ""


_ENV_NAME = re.compile(r"(^|_)v?envs?$")
"""A name that holds an env: ``env``, ``venv``, ``envs``, ``vec_env``, ``self._env``, ``inner_env(...)``."""


def _holder(node: ast.AST) -> str:
    """The last name of the expression an attribute is read from (``inner_env(venv)`` -> ``inner_env``)."""
    while isinstance(node, (ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def reach_throughs(source: str) -> list[tuple[int, str]]:
    """``(line, expression)`` of each read of an env's internals in ``source``: ``<x>.venv.setup``,
    ``<x>.venv.config``, ``<x>.unwrapped.venv`` and a ``_private`` attribute of anything named like an env."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        holder = _holder(node.value)
        private = node.attr.startswith("_") and not node.attr.startswith("__") and _ENV_NAME.search(holder)
        wrapped = (node.attr, holder) in (("setup", "venv"), ("config", "venv"), ("venv", "unwrapped"))
        if private or wrapped:
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_lam_agents_reaches_into_no_env_internals() -> None:
    """Agents read what they need from the vector env's documented surface, not from what lies behind it."""
    sources = {path: source for path, source in _runtime_sources().items() if path.startswith("lam_agents/")}
    assert len(sources) > 20
    found = [f"{path}:{line}: {text}" for path, source in sources.items() for line, text in reach_throughs(source)]
    assert found == []


def test_the_reach_through_check_sees_every_form() -> None:
    source = (
        "a = inner_env(venv).venv.setup.samples\n"
        "b = venv.unwrapped.venv.setup\n"
        "c = inner_env(self.env).venv.config.max_reply_tokens\n"
        "d = self.env._seeds\n"
        "e = envs[0]._batch\n"
        "f = self._env.num_envs + self.env.venv.num_envs + self._cache + env.__class__.__name__\n"
    )
    assert reach_throughs(source) == [
        (1, "inner_env(venv).venv.setup"), (2, "venv.unwrapped.venv"), (2, "venv.unwrapped.venv.setup"),
        (3, "inner_env(self.env).venv.config"), (4, "self.env._seeds"), (5, "envs[0]._batch"),
    ]  # fmt: skip
