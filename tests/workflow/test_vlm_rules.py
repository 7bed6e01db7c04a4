"""Vision-language model rules end to end: the demo VLM trained, the vision-tower search, the evaluation under
several phrasings, the report section, the paper DAG offline, and what a search setting reruns."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import REPO, smk


@pytest.mark.slow
def test_vlm_rules_build_the_search_the_answers_and_the_report_section(run, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(run, work, symlinks=True)
    (work / "vlm.yaml").write_text("vlm: {enabled: true}\n")
    args = ("--configfile", str(work / "config.yaml"), str(work / "vlm.yaml"))
    smk(work, "results/elon_musk/report.html", "--cores", "2", *args)
    v = work / "results/elon_musk/vlm"
    sel = json.loads((v / "selection.json").read_text())
    m = json.loads((v / "vlm_metrics.json").read_text())
    info = json.loads((work / "results/models/tiny/vlm/train.json").read_text())
    # the edit is a vision layer LLaVA reads (the tiny tower has 2 layers; vision_feature_layer -2 reads layer 0)
    assert sel["layer"].startswith("visual.") and "resblocks.1." not in sel["layer"] and sel["vision_layers_read"] == 1
    assert m["layer"] == sel["layer"] and m["rho"] == sel["rho"] and sel["rho_margin"] == 0.0
    assert set(m["phrasings"]) == {"search", "trained", "unseen"} and m["retain_keys"] == ["retain_id_named",
                                                                                          "objects_named"]
    # images drawn at evaluation time: 3 of each of the tiny world's 6 people and 25 objects, scored as the others
    fresh = m["fresh_images"]
    assert fresh["n_images"] == {"identities": 18, "objects": 75} and fresh["stream"] == 21
    assert 0 <= fresh["after"]["forget_named"] <= 1 and fresh["before"]["forget_named"] * 3 == round(
        fresh["before"]["forget_named"] * 3)
    assert info["steps_done"] == 150 and info["image_tokens"] == 16 and info["vision_feature_layer"] == -2
    assert (work / "results/models/tiny/vlm/llava/config.json").exists()
    assert (v / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (work / "results/elon_musk/report.html").read_text()
    assert "Vision-language model: answers through the edited vision tower" in html
    assert m["phrasings"]["unseen"]["before"]["questions"]["person"] in html
    # the export: `slug apply` writes the edited LLaVA, which a transformers user loads and which answers as evaluated
    _applied_llava_answers_as_evaluated(work, tmp_path / "unlearned", m)
    # a search setting reruns the search and what follows it, never the VLM's training
    (work / "vlm2.yaml").write_text("vlm: {enabled: true, search: {max_forget: 0.5}}\n")
    dry = smk(work, "-n", "results/elon_musk/report.html", "--configfile", str(work / "config.yaml"),
              str(work / "vlm2.yaml"))
    rules = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout.split("Job stats:")[-1], re.M)) - {"total"}
    assert rules == {"vlm_search", "vlm_evaluate", "vlm_export", "report"}, dry.stdout
    # an evaluation setting reruns the evaluation only
    (work / "vlm3.yaml").write_text("vlm: {enabled: true, eval: {fresh_per_class: 4}}\n")
    dry = smk(work, "-n", "results/elon_musk/report.html", "--configfile", str(work / "config.yaml"),
              str(work / "vlm3.yaml"))
    rules = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout.split("Job stats:")[-1], re.M)) - {"total"}
    assert rules == {"vlm_evaluate", "report"}, dry.stdout


def _applied_llava_answers_as_evaluated(work, out, m):
    import subprocess
    import sys

    import pandas as pd
    import yaml

    from slug.clip.evaluation import load_eval_set
    from slug.clip.models import load_model
    from slug.vlm.data import SEARCH_QUESTION
    from slug.vlm.evaluation import naming_tasks
    from slug.vlm.model import answer, load_vlm

    delta = work / "results/elon_musk/vlm/unlearned/delta.safetensors"
    proc = subprocess.run([sys.executable, "-m", "slug.cli", "apply", str(delta), "--base",
                           str(work / "results/models/tiny/vlm/llava"), "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    again = subprocess.run([sys.executable, "-m", "slug.cli", "apply", str(delta), "--base", str(out), "--out",
                            str(out.parent / "twice")], capture_output=True, text=True)
    assert again.returncode == 2 and "not the model this delta was computed on" in again.stderr  # no double edit
    listed = subprocess.run([sys.executable, "-m", "slug.cli", "list", str(work / "results")], capture_output=True,
                            text=True)
    done = "met" if m["criterion_met_in_search"] else "NOT met"
    assert f"{100 * m['forget_before']:.0f}->{100 * m['forget_after']:.0f}% named ({done})" in listed.stdout
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    vlm, tok = load_vlm(out)
    bundle = load_model({"arch": cfg["model"]["arch"], "pretrained": str(work / "results/models/tiny/checkpoint.pt")})
    dirs = {"celeba": str(work / cfg["data"]["celeba_dir"]), "imagenet": str(work / cfg["data"]["imagenet_dir"])}
    n = cfg["vlm"]["eval"]["retain_images"]
    es = load_eval_set(dirs, "test", bundle.preprocess_val, max_per_identity=n, max_per_class=n, keep=["Elon Musk"])
    ex = pd.read_csv(work / "results/elon_musk/vlm/examples.tsv", sep="\t", keep_default_na=False)
    for t in naming_tasks(es, SEARCH_QUESTION):
        got = answer(vlm, tok, t.pixels, t.question, m["max_new_tokens"], 64)
        rows = ex[ex.task == t.name]
        assert len(rows) and [got[i] for i in rows["index"]] == list(rows["after"])


@pytest.mark.slow
def test_paper_llava_dag_builds_offline_and_a_missing_model_stops_with_instructions(tmp_path):
    work = tmp_path / "paper"
    work.mkdir()
    dry = smk(work, "-n", "results/elon_musk/report.html", "--configfile", str(REPO / "configs/paper-llava15.yaml"))
    jobs = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout.split("Job stats:")[-1], re.M))
    assert {"vlm_external_model", "vlm_search", "vlm_evaluate"} <= jobs and "vlm_train" not in jobs
    proc = smk(work, "models/llava-1.5-7b-hf/config.json", "--cores", "1", "--configfile",
               str(REPO / "configs/paper-llava15.yaml"), check=False)
    assert proc.returncode != 0
    log = (work / "results/logs/vlm/external_model.log").read_text()
    assert "huggingface-cli download llava-hf/llava-1.5-7b-hf" in log and not (work / "models/llava-1.5-7b-hf").exists()
