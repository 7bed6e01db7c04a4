"""Shared fixtures: a tiny real open_clip model and a tiny real demo world (generated once)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parent.parent
TINY_ARCH = "SLUG-Tiny-ViT"


@pytest.fixture
def tiny_clip():
    """A randomly initialised tiny open_clip model (real architecture, real tokenizer)."""
    from slug.models import load_clip

    torch.manual_seed(0)
    return load_clip(TINY_ARCH)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """A small demo world written in the real formats."""
    from slug.world import WorldSpec, write_world

    out = tmp_path_factory.mktemp("world")
    write_world(WorldSpec(seed=3, n_identities=8, n_pairs=120, celeba_per_identity=4, imagenet_per_class=4,
                          nonmember_pairs=20, image_size=32), out)
    return out
