"""Small helpers shared by the thin ``workflow_scripts`` adapters (no Snakemake import here)."""

from __future__ import annotations

import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import torch

TRACKED_PACKAGES = ("torch", "torchvision", "open_clip_torch", "webdataset", "img2dataset", "snakemake",
                    "numpy", "pandas", "scikit-learn", "diffusers")


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
    return logging.getLogger("slug")


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in TRACKED_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def as_list(x) -> list:
    """Snakemake gives a named input as a string when it is one file, as a list when several."""
    return [x] if isinstance(x, (str, Path)) else list(x)
