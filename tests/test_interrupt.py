"""Interruptions and determinism: a killed run, resumed, gives the results of an uninterrupted one."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from conftest import SNAKEMAKE, smk

pytestmark = pytest.mark.slow


def _fresh_copy(run: Path, dest: Path) -> Path:
    """The tiny run's shared inputs (world, shards, model, retain gradient) without any concept result."""
    dest.mkdir()
    shutil.copy(run / "config.yaml", dest / "config.yaml")
    shutil.copytree(run / "data", dest / "data")
    shutil.copytree(run / "results" / "models", dest / "results" / "models")
    shutil.copytree(run / "results" / "benchmarks", dest / "results" / "benchmarks",
                    ignore=shutil.ignore_patterns("elon_musk"))
    shutil.copytree(run / ".snakemake" / "metadata", dest / ".snakemake" / "metadata")  # keep them up to date
    return dest


def _kill_when(work: Path, marker: Path, timeout: float = 300) -> None:
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(work), "results/elon_musk/report.html", "--cores", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {marker} appeared")
        if time.time() - t0 > timeout:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # let the job get going
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _results(work: Path) -> tuple[dict, dict]:
    from slug.io import load_tensor_dict

    sel = json.loads((work / "results/elon_musk/selection.json").read_text())
    return sel, load_tensor_dict(work / "results/elon_musk/unlearned/delta.pt")


@pytest.mark.parametrize("stage", ["forget_gradient", "search_step"])
def test_sigkill_then_rerun_gives_identical_results(run, tmp_path, stage):
    work = _fresh_copy(run, tmp_path / "w")
    _kill_when(work, work / "results" / "logs" / "elon_musk" / f"{stage}.log")
    assert not (work / "results/elon_musk/report.html").exists()
    smk(work, "--unlock")  # a SIGKILL leaves Snakemake's lock behind, as after a power loss
    smk(work, "results/elon_musk/report.html", "--cores", "2")  # the default profile reruns incomplete jobs
    sel, delta = _results(work)
    ref_sel, ref_delta = _results(run)
    assert sel == ref_sel  # same layer, step, metrics, checksums of the inputs
    assert delta.keys() == ref_delta.keys()
    assert all(torch.equal(delta[k], ref_delta[k]) for k in delta)  # bit-identical
    leftovers = [p for p in (work / "results").rglob("*.tmp")]
    assert leftovers == [] or all(p.name.startswith(".") for p in leftovers)
