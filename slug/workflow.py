"""Small helpers shared by the thin ``workflow_scripts`` adapters (no Snakemake import here)."""

from __future__ import annotations

import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Sequence

import torch

TRACKED_PACKAGES = ("slug-pipeline", "torch", "torchvision", "open_clip_torch", "webdataset", "img2dataset",
                    "snakemake", "numpy", "pandas", "scikit-learn", "diffusers")


def setup(log_path: str | None, threads: int = 1, seed: int | None = None) -> logging.Logger:
    """Send stdout/stderr and logging to the rule's log, pin torch threads, seed everything."""
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_path, "w", buffering=1)
        sys.stderr = fh
        sys.stdout = fh
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    torch.set_num_threads(max(1, int(threads)))
    if seed is not None:
        seed_everything(seed)
    log = logging.getLogger("slug")
    log.info("slug library: %s", Path(__file__).resolve().parent)  # which copy of the code this job runs
    return log


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def source_commit() -> str | None:
    """The git commit of this checkout of slug-pipeline, '+dirty' when its code has uncommitted edits."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "slug", "workflow_scripts",
                                "rules", "Snakefile"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    """Python, the tracked packages and slug-pipeline's own version and source commit."""
    out = {"python": platform.python_version()}
    for p in TRACKED_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    commit = source_commit()
    if commit:
        out["slug-pipeline commit"] = commit
    return out


def as_list(x) -> list:
    """Snakemake gives a named input as a string when it is one file, as a list when several."""
    return [x] if isinstance(x, (str, Path)) else list(x)


def present(named, keys: Sequence[str]) -> dict[str, str]:
    """The first file of each named input in ``keys`` that a rule gave (optional inputs may be absent or empty)."""
    out = {}
    for k in keys:
        files = as_list(named.get(k, None) or [])
        if files:
            out[k] = str(files[0])
    return out
