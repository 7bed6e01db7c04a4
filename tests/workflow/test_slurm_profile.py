"""Device choice for GPU rules, and the SLURM profile as Snakemake and the installed plugin read it.

The real SLURM run is `make test-slurm` (.ci/slurm/test_slurm.sh: a one-node cluster, the workflow
through the profile, the result compared with a local run); these tests need no SLURM.
"""
from __future__ import annotations

import logging
import shutil
import warnings

import pytest
import torch
import yaml

from conftest import REPO, smk
from slug.clip.models import pick_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@no_cuda
def test_auto_without_cuda_falls_back_to_cpu_with_a_warning_and_logs_why(monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # as SLURM sets it; CUDA is not usable here
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with caplog.at_level(logging.INFO, logger="slug"), pytest.warns(UserWarning, match="computing on the CPU"):
        device = pick_device("auto")
    assert device == torch.device("cpu")
    record = " ".join(r.getMessage() for r in caplog.records)
    assert "CUDA_VISIBLE_DEVICES='0'" in record and "SLURM job 4242" in record


@no_cuda
def test_auto_with_every_gpu_hidden_says_so(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.warns(UserWarning, match="hides every GPU"):
        assert pick_device("auto") == torch.device("cpu")


def test_cpu_is_chosen_without_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with caplog.at_level(logging.INFO, logger="slug"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pick_device("cpu") == torch.device("cpu")
    assert any("config device: cpu" in r.getMessage() for r in caplog.records)


@no_cuda
@pytest.mark.parametrize("requested", ["cuda", "cuda:1"])
def test_an_explicit_gpu_that_is_absent_is_an_error_naming_the_fix(requested):
    with pytest.raises(RuntimeError, match=rf"config device: '{requested}'.*device: auto"):
        pick_device(requested)


@pytest.mark.parametrize("requested", ["gpu", "cuda:x", "CPU0"])
def test_a_device_string_that_is_not_a_device_is_refused(requested):
    with pytest.raises(ValueError, match=rf"config device: '{requested}' is not one of auto, cpu, cuda, cuda:N"):
        pick_device(requested)


def test_slurm_profile_keeps_going_and_polls_with_squeue():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["keep-going"] is True
    assert profile["slurm-status-command"] == "squeue"
    # profiles/default is applied on top of --profile: a shared key would silently win over the cluster's
    assert not set(profile) & set(default) - {"rerun-incomplete"}
    assert "cores" not in default  # it would cap every cluster job's threads


def test_slurm_profile_is_read_by_snakemake_and_plans_the_same_jobs(tmp_path):
    """A dry run through the profile: every key must be an option of Snakemake or the installed plugin."""
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    targets = ["results/elon_musk/report.html", "results/jeff_bezos/report.html"]
    slurm = smk(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"), *targets)
    local = smk(tmp_path, "-n", "--cores", "2", *targets)

    def planned(proc):
        out = proc.stdout + proc.stderr
        return sorted(line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("rule "))

    assert planned(slurm) and planned(slurm) == planned(local)
