"""Stable Diffusion rules end to end: metrics, grids, the report section, paper DAGs, the training guard."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import REPO, smk
from slug.clip import hf as hf_clip


@pytest.mark.slow
def test_sd_rules_build_metrics_grids_and_the_report_section(run, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(run, work, symlinks=True)
    (work / "sd.yaml").write_text("diffusion: {enabled: true}\n")
    smk(work, "results/elon_musk/report.html", "--cores", "2", "--configfile", str(work / "config.yaml"),
        str(work / "sd.yaml"))
    sd = work / "results/elon_musk/sd"
    m = json.loads((sd / "sd_metrics.json").read_text())
    sel = json.loads((sd / "selection.json").read_text())
    assert m["layer"] == sel["layer"] and hf_clip.is_text_tower(sel["layer"]) and sel["layer"] != "text_projection"
    assert m["chance_identity"] == 1 / len(m["identities"]) and m["identities"][0] == "Elon Musk"
    # the tiny cast has two styles (no characters): their task is scored, checked and shown beside the others
    assert m["kind"] == "person" and m["chance"] == m["chance_identity"] and len(m["styles"]) == 2
    assert m["retain_tasks"] == ["identities", "objects", "styles"] and "styles_within_10pt" in m["checks"]
    assert m["prompt_templates"]["style"] == [f"a {o} in {{}} style" for o in m["objects"]]
    info = json.loads((work / "results/models/tiny/sd/train.json").read_text())
    assert info["styles"] == m["styles"] and info["characters"] == []
    # every rate is a share of generated images, and the means are those of the subjects' own rates
    n_t = m["n_images"]["target"]
    for tag in ("before", "after"):
        assert m[f"target_{tag}"] * n_t == pytest.approx(round(m[f"target_{tag}"] * n_t))
        for kind, names in (("identities", m["identities"][1:]), ("objects", m["objects"])):
            rates = [m["per_subject"][s][tag] for s in names]
            assert m[f"{kind}_{tag}"] == pytest.approx(sum(rates) / len(rates))
            assert all(r * m["n_images"]["per_identity"] == pytest.approx(round(r * m["n_images"]["per_identity"]))
                       for r in rates)
    # the record every family writes
    assert sel["rho_margin"] == 0.0 and sel["rho"] == sel["rho_threshold"] and "metrics_search_split" in sel
    for g in ("target_before", "target_after", "retain_before", "retain_after"):
        assert (sd / f"{g}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (work / "results/elon_musk/report.html").read_text()
    assert "Stable Diffusion: generation through the edited text encoder" in html and "styles (mean)" in html
    assert (work / "results/models/tiny/sd/unet/config.json").exists()
    # the export, loaded the way a diffusers user loads it, draws the evaluated "after" images bit for bit
    _user_pipeline_reproduces_the_evaluated_grid(work, m)
    card = (sd / "unlearned/README.md").read_text()
    assert "library_name: diffusers" in card and "CLIPTextModel.from_pretrained" in card
        # a search setting reruns the search and what follows it, never the UNet's training
    (work / "sd2.yaml").write_text("diffusion: {enabled: true, search: {forget_margin: 0.1}}\n")
    dry = smk(work, "-n", "results/elon_musk/report.html", "--configfile", str(work / "config.yaml"), str(work / "sd2.yaml"))
    rules = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout.split("Job stats:")[-1], re.M)) - {"total"}
    assert rules == {"sd_search", "sd_evaluate", "sd_export", "report"}, dry.stdout


def _user_pipeline_reproduces_the_evaluated_grid(work, m):
    import numpy as np
    import torch
    from diffusers import StableDiffusionPipeline
    from PIL import Image
    from transformers import CLIPTextModel

    from slug import diffusion as D
    from slug.diffusion.subjects import Subjects

    te = CLIPTextModel.from_pretrained(work / "results/elon_musk/sd/unlearned/text_encoder")
    pipe = StableDiffusionPipeline.from_pretrained(work / "results/models/tiny/sd/pipeline", text_encoder=te,
                                                   safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    e = yaml_config(work)["diffusion"]
    subjects = Subjects.from_record(json.loads((work / "results/models/tiny/sd/train.json").read_text()))
    ps = D.evaluation_prompts(subjects, "Elon Musk", m["n_images"]["target"], m["n_images"]["per_identity"],
                              m["n_images"]["per_object"], "person")
    noise = D.fixed_noise(pipe, len(ps), m["sampler"]["noise_seed"])
    with torch.no_grad():
        imgs = D.generate(pipe, ps.prompts, noise, m["sampler"]["steps"], m["sampler"]["guidance"],
                          clip_skip=e.get("clip_skip"))
    for grid, idx in D.grid_indices(ps).items():  # every subject's grid: the target's and the retain one
        out = work / f"again_{grid}.png"
        D.save_grid_png(imgs[idx], out)
        a = np.asarray(Image.open(out))
        b = np.asarray(Image.open(work / f"results/elon_musk/sd/{grid}_after.png"))
        assert a.shape == b.shape and (a == b).all(), grid


def yaml_config(work):
    import yaml

    from slug.config import validate_config

    return validate_config(yaml.safe_load((work / "config.yaml").read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["paper-sd15.yaml", "paper-sd21.yaml"])
def test_paper_sd_configs_build_their_dags_and_stop_with_the_download_command(tmp_path, name):
    from test_workflow import jobs_of

    dry = smk(tmp_path, "-n", "--configfile", str(REPO / "configs" / name))
    jobs = jobs_of(dry.stdout)
    n = {"paper-sd15.yaml": 8, "paper-sd21.yaml": 5}[name]  # sd15: five people, an object, a character, a style
    assert jobs["sd_external_model"] == 1 and jobs["sd_search"] == n and jobs["sd_evaluate"] == n
    assert "sd_train" not in jobs and "pretrain" not in jobs
    import yaml

    cfg = yaml.safe_load((REPO / "configs" / name).read_text())
    target = f"{cfg['diffusion']['pipeline_dir']}/model_index.json"
    proc = smk(tmp_path, target, "--cores", "1", "--configfile", str(REPO / "configs" / name), check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/sd/external_model.log").read_text()
    assert f"huggingface-cli download {cfg['diffusion']['model']} --local-dir {cfg['diffusion']['pipeline_dir']}" in log
    assert not (tmp_path / target).exists()


@pytest.mark.slow
def test_sd_training_that_reaches_its_guard_fails_and_writes_nothing_and_a_time_limited_one_is_reported(run, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(run, work, symlinks=True)
    (work / "sd.yaml").write_text("diffusion: {enabled: true, train: {max_minutes: 1.0e-6}}\n")
    args = ("--cores", "2", "--configfile", str(work / "config.yaml"), str(work / "sd.yaml"))
    proc = smk(work, "results/models/tiny/sd/train.json", *args, check=False)
    assert proc.returncode != 0
    log = (work / "results/logs/sd/tiny/sd_train.log").read_text()
    pattern = r"diffusion.train.max_minutes = 1e-06 min reached after 1 of 4 steps \([\d.e+-]+ s per step"
    assert re.search(pattern, log), log[-3000:]
    assert "set diffusion.train.time_limited: true" in log
    sd = work / "results/models/tiny/sd"
    assert not sd.exists() or not any(sd.iterdir()), list(sd.iterdir())
    # asked for explicitly, the same budget ends the training early: recorded, and the report's summary says so
    (work / "sd.yaml").write_text("diffusion: {enabled: true, train: {max_minutes: 1.0e-6, time_limited: true}}\n")
    smk(work, "results/elon_musk/report.html", *args)
    info = json.loads((sd / "train.json").read_text())
    assert info["stopped_by_time_budget"] and info["steps_done"] == 1 and info["time_limited"]
    html = (work / "results/elon_musk/report.html").read_text()
    assert "Time-limited run:" in html and "trained 1 of its 4 steps" in html
