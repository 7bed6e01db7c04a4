"""Shared fixtures: a tiny real open_clip model and a tiny real demo world (generated once)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    from slug.clip.models import load_clip

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


SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def smk(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real Snakemake CLI on the workflow in ``workdir``."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    """One end-to-end run of the workflow on the tiny world and tiny model (tests/configs/tiny.yaml)."""
    work = tmp_path_factory.mktemp("wf")
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", work / "config.yaml")
    smk(work, "results/elon_musk/report.html", "--cores", "2")
    return work
