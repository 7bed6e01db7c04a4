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
    assert info["steps_done"] == 150 and info["image_tokens"] == 16 and info["vision_feature_layer"] == -2
    assert (work / "results/models/tiny/vlm/llava/config.json").exists()
    assert (v / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (work / "results/elon_musk/report.html").read_text()
    assert "Vision-language model: answers through the edited vision tower" in html
    assert m["phrasings"]["unseen"]["before"]["questions"]["person"] in html
    # a search setting reruns the search and what follows it, never the VLM's training
    (work / "vlm2.yaml").write_text("vlm: {enabled: true, search: {max_forget: 0.5}}\n")
    dry = smk(work, "-n", "results/elon_musk/report.html", "--configfile", str(work / "config.yaml"),
              str(work / "vlm2.yaml"))
    rules = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout.split("Job stats:")[-1], re.M)) - {"total"}
    assert rules == {"vlm_search", "vlm_evaluate", "report"}, dry.stdout


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
