"""The report's image grids of generations."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from slug.diffusion.generation import PromptSet

log = logging.getLogger("slug")

def grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """An HxWx3 uint8 image grid."""
    from torchvision.utils import make_grid

    g = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    return (g.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_grid_png(images: torch.Tensor, path: str | Path, nrow: int = 8, scale: int = 3) -> None:
    """Write ``images`` (N x 3 x H x W in [0, 1]) as one PNG grid, enlarged ``scale`` times (nearest
    neighbour, so the generated pixels stay visible), atomically."""
    from PIL import Image

    from slug.io import atomic_path

    g = Image.fromarray(grid(images, nrow=nrow))
    with atomic_path(path) as tmp:
        g.resize((g.width * scale, g.height * scale), Image.NEAREST).save(tmp, format="PNG")


def grid_indices(ps: PromptSet, n_target: int = 16) -> dict[str, list[int]]:
    """Which generated images the before/after grids show: the first ``n_target`` of the target, and
    the first image of every other subject (``retain``), in prompt order."""
    first: dict[str, int] = {}
    for i, (subject, kind) in enumerate(zip(ps.subjects, ps.kinds)):
        if kind != "target":
            first.setdefault(subject, i)
    return {"target": [i for i, k in enumerate(ps.kinds) if k == "target"][:n_target], "retain": list(first.values())}


