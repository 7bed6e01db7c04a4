"""Batch unlearning, the baselines comparison and joint unlearning as real Snakemake runs (tiny world)."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from conftest import REPO, smk
from test_workflow import jobs_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def batch_run(run, tmp_path_factory):
    """The tiny workflow run, extended: `all` over two concepts + a joint set, with one concept that must
    fail (no caption names it) under --keep-going; then the baselines comparison."""
    work = tmp_path_factory.mktemp("batch") / "wf"
    shutil.copytree(run, work, symlinks=True)
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["concepts"]["nobody_at_all"] = {"name": "Nobody At All"}
    cfg["joint"] = {"pair": ["elon_musk", "jeff_bezos"]}
    cfg["comparison"] = {"concepts": ["elon_musk"]}
    cfg["baselines"] = {"methods": ["ga", "ssd"], "max_epochs": 3, "retain_pairs": 120, "lr": 3e-3,
                        "ssd": {"alpha": 1.0}}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = smk(work, "all", "--cores", "2", "--keep-going", check=False)
    comparison = smk(work, "results/comparison.html", "--cores", "2", check=False)
    return work, proc, comparison


def test_batch_target_plans_one_job_per_concept_and_one_retain_gradient(tmp_path):
    cfg = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    cfg["concepts"].update({"taylor_swift": {"name": "Taylor Swift"}, "kim_kardashian": {"name": "Kim Kardashian"}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(smk(tmp_path, "all", "-n").stdout)
    n = len(cfg["concepts"])
    assert jobs["retain_gradient"] == 1 and jobs["pretrain"] == 1 and jobs["download_shards"] == 1
    for rule in ("curate_forget_set", "forget_gradient", "search_step", "unlearn", "evaluate", "report"):
        assert jobs[rule] == n, rule
    assert jobs["summary"] == 1


def test_a_failed_concept_does_not_stop_the_others_and_is_named(batch_run):
    work, proc, _ = batch_run
    assert proc.returncode != 0  # the bad concept failed ...
    for c in ("elon_musk", "jeff_bezos"):  # ... the others finished
        assert (work / f"results/{c}/report.html").is_file()
    summary = pd.read_csv(work / "results/summary.tsv", sep="\t")
    status = dict(zip(summary.concept, summary.status))
    assert status["nobody_at_all"].startswith("failed")
    assert status["elon_musk"] == "ok" and status["jeff_bezos"] == "ok"
    assert "nobody_at_all" in (work / "results/summary.html").read_text()
    row = summary.set_index("concept").loc["elon_musk"]
    assert row.forget_top1_after < row.forget_top1_before and isinstance(row.layer, str)
    change = row.objects_top1_after - row.objects_top1_before  # with its bootstrap interval
    assert row.objects_top1_change_lo - 1e-6 <= change <= row.objects_top1_change_hi + 1e-6
    assert "objects_top1_change_lo (%)" in (work / "results/summary.html").read_text()


def test_joint_unlearning_of_two_concepts_meets_the_criterion_for_both(batch_run):
    work = batch_run[0]
    m = json.loads((work / "results/joint/pair/metrics.json").read_text())
    metric, bound = m["criterion"].split(" <= ")
    key = "top1" if metric == "forget_top1" else "top5"
    assert m["criterion_split"] == "search"
    for c in ("elon_musk", "jeff_bezos"):
        assert m["results"]["before"]["forget"][c][key] > float(bound)  # there was something to forget
        assert m["search_split"]["joint (re-searched)"]["forget"][c][key] <= float(bound) + 1e-9, c
    inter = m["interference"]
    assert inter["criterion_met_jointly"] == {"elon_musk": True, "jeff_bezos": True}
    # a concept whose plain-sum result missed the criterion got a larger scale (rescale_jointly's own test
    # in test_baselines.py checks the scales themselves)
    scaled = {c for c, s in inter["scales"].items() if s > 1}
    assert {c for c, ok in inter["criterion_met_by_sum"].items() if not ok} <= scaled
    # the joint model and delta as safetensors too (the delta's header names both concepts' layers)
    from slug.export.formats import read_delta, tensors_sha256
    from slug.io import load_tensor_dict

    assert tensors_sha256(load_tensor_dict(work / "results/joint/pair/model.safetensors")) == tensors_sha256(
        load_tensor_dict(work / "results/joint/pair/checkpoint.pt"))
    _, meta = read_delta(work / "results/joint/pair/delta.safetensors")
    assert meta["concepts"] == ["elon_musk", "jeff_bezos"] and set(meta["layers"]) == {"elon_musk", "jeff_bezos"}
    html = (work / "results/joint/pair/report.html").read_text()
    assert "Joint unlearning: pair" in html and "data:image/png;base64," in html


def test_baselines_comparison_has_every_method_and_the_same_metrics(batch_run):
    work, _, comparison = batch_run
    assert comparison.returncode == 0, comparison.stderr[-3000:]
    t = pd.read_csv(work / "results/elon_musk/comparison.tsv", sep="\t")
    assert list(t.method) == ["original", "slug", "ga", "ssd"]
    slug_metrics = json.loads((work / "results/elon_musk/metrics.json").read_text())
    for method in ("ga", "ssd"):
        bm = json.loads((work / f"results/elon_musk/baselines/{method}/metrics.json").read_text())
        assert set(bm["after"]) == set(slug_metrics["after"])  # the same evaluation code
        assert bm["before"] == slug_metrics["before"]
        trace = pd.read_csv(work / f"results/elon_musk/baselines/{method}/trace.tsv", sep="\t")
        assert {"epoch", "forget_top1", "forget_top5", "retain_id_top1", "objects_top1", "unlearn_s",
                "grad_steps"} <= set(trace.columns)
        assert trace.epoch.iloc[0] == 0 and trace.grad_steps.is_monotonic_increasing
        from slug.export.formats import tensors_sha256
        from slug.io import load_tensor_dict

        base = work / f"results/elon_musk/baselines/{method}"
        assert tensors_sha256(load_tensor_dict(base / "model.safetensors")) == tensors_sha256(
            load_tensor_dict(base / "checkpoint.pt"))
    avg = pd.read_csv(work / "results/comparison.tsv", sep="\t")
    assert set(avg.method) == {"original", "slug", "ga", "ssd"}
    assert "data:image/png;base64," in (work / "results/comparison.html").read_text()
