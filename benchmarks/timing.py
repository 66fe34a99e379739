"""What the speed benchmarks share: timing with the device synchronised, and the commit and machine they report.

The scripts import it from their own folder (``benchmarks/`` is not a package), also when a test loads one by path.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed ones, synchronising the device
    around each timed call (and only there)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def clear_caches(backbone: Any) -> None:
    """Empty the backbone's prompt and image caches, so that each timed setting starts as cold as the others (the
    envs and loops share one backbone per process: without this a setting would reuse the prefills of the one
    measured before it)."""
    backbone.prompt_cache.clear()
    backbone.image_cache.clear()


def git_commit() -> str:
    """The checkout's short commit, or ``"unknown"``."""
    try:
        command = ["git", "rev-parse", "--short", "HEAD"]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(device: torch.device | str) -> str:
    """The machine in one line: GPU (with CUDA version) if ``device`` is one, CPU, core count, OS."""
    device = torch.device(device)
    where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}); {where}"
    return where
