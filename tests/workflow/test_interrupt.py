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
    """Start the workflow, and SIGKILL its whole process group once ``marker`` (a job's log) exists."""
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(work), "results/elon_musk/report.html", "--cores", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before {marker} appeared")
            if time.time() - t0 > timeout:
                raise AssertionError(f"{marker} did not appear within {timeout:.0f} s")
            time.sleep(0.2)
        time.sleep(1.0)  # let the job get going
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _results(work: Path) -> tuple[dict, dict]:
    from slug.io import load_tensor_dict

    sel = json.loads((work / "results/elon_musk/selection.json").read_text())
    return sel, load_tensor_dict(work / "results/elon_musk/unlearned/delta.pt")


@pytest.mark.parametrize("stage,output", [("forget_gradient", "forget_grads.pt"), ("search_step", "selection.json")])
def test_sigkill_then_rerun_gives_identical_results(run, tmp_path, stage, output):
    work = _fresh_copy(run, tmp_path / "w")
    _kill_when(work, work / "results" / "logs" / "elon_musk" / f"{stage}.log")
    assert not (work / "results/elon_musk" / output).exists(), f"the kill came after {stage} had finished"
    assert not (work / "results/elon_musk/report.html").exists()
    smk(work, "--unlock")  # a SIGKILL leaves Snakemake's lock behind, as after a power loss
    smk(work, "results/elon_musk/report.html", "--cores", "2")  # the default profile reruns incomplete jobs
    sel, delta = _results(work)
    ref_sel, ref_delta = _results(run)
    assert sel == ref_sel  # same layer, step, metrics, checksums of the inputs
    assert delta.keys() == ref_delta.keys()
    assert all(torch.equal(delta[k], ref_delta[k]) for k in delta)  # bit-identical
    assert list((work / "results").rglob("*.tmp")) == []  # a killed writer's temp file is removed by the rerun
