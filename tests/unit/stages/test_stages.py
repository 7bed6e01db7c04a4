"""The workflow's stages as library calls (slug.stages), on the tiny world and a tiny real open_clip model:
what each rule decides and records, tested without Snakemake."""
from __future__ import annotations

from slug.world import world_eval_dirs
import copy

import pandas as pd
import pytest
import torch

from conftest import REPO, TINY_ARCH
from slug.config import load_yaml, validate_config
from slug.io import atomic_torch_save, sha256, write_json, write_tsv
from slug.core.search import TIE_TOL, make_delta

CONCEPT = "Elon Musk"
LAYERS = ["visual.proj", "text_projection", "visual.transformer.resblocks.0.mlp.c_fc.weight",
          "transformer.resblocks.1.mlp.c_fc.weight", "transformer.resblocks.0.attn.in_proj_weight"]


@pytest.fixture(scope="module")
def tiny_cfg():
    return validate_config(load_yaml(REPO / "tests" / "configs" / "tiny.yaml"))


@pytest.fixture
def setting(tiny_clip, tiny_world, tmp_path):
    """A checkpoint, the concept's forget gradient and a ranking of a few layers, as the earlier rules write them."""
    from slug.clip.evaluation import load_eval_set
    from slug.core.gradients import forget_gradient
    from slug.clip.models import save_state_dict
    from slug.core.ranking import layer_scores

    model = tiny_clip.model.eval()
    es = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val)
    images = es.id_images[es.id_labels == es.target_index(CONCEPT)]
    g_f = forget_gradient(model, images, tiny_clip.tokenizer([f"a photo of {CONCEPT}"] * len(images)), LAYERS,
                          progress=False)
    others = es.id_images[es.id_labels != es.target_index(CONCEPT)][:16]
    g_r = forget_gradient(model, others, tiny_clip.tokenizer(["a photo"] * len(others)), LAYERS, progress=False)
    files = {"checkpoint": tmp_path / "checkpoint.pt", "forget": tmp_path / "forget_grads.pt",
             "layers": tmp_path / "layers.tsv"}
    save_state_dict(model, files["checkpoint"])
    atomic_torch_save(g_f, files["forget"])
    write_tsv(files["layers"], layer_scores(dict(model.named_parameters()), g_f, g_r))
    return {k: str(v) for k, v in files.items()}, {"arch": TINY_ARCH, "pretrained": str(files["checkpoint"])}


def test_search_step_records_the_choice_its_rule_makes_from_its_own_trials(setting, tiny_world, tiny_cfg):
    from slug.core.ranking import candidates
    from slug.stages.clip import search_step

    inputs, model = setting
    s = {**tiny_cfg["search"], "rho_start": 0.01}
    trials, sel = search_step(model, torch.device("cpu"), inputs, "elon_musk", CONCEPT, s,
                              world_eval_dirs(tiny_world), seed=0)
    front = candidates(pd.read_csv(inputs["layers"], sep="\t"), s["towers"], s["max_layers_per_tower"])
    assert sel["layers_searched"] == front and set(trials.layer) == set(front)
    assert sel["concept"] == "elon_musk" and sel["display_name"] == CONCEPT
    assert sel["inputs_sha256"] == {k: sha256(v) for k, v in inputs.items()}
    assert sel["n_trials"] == len(trials) and sel["n_meeting_criterion"] == int(trials.meets_criterion.sum())
    assert sel["criterion"] == "forget_top1 <= 0" and sel["criterion_met"]
    # the rule, checked from the table alone: among passing trials within the retain bound, the best retain score
    passing = trials[trials.meets_criterion]
    base = sel["baseline_search_split"]
    drop = passing.apply(lambda r: max(base["retain_id_top1"] - r.retain_id_top1, base["objects_top1"] - r.objects_top1),
                         axis=1)
    pool = passing[drop <= s["max_retain_drop"] + TIE_TOL] if (drop <= s["max_retain_drop"] + TIE_TOL).any() else passing
    assert sel["retain_score"] == pytest.approx(pool.retain_score.max(), abs=1e-6)
    chosen = trials[(trials.layer == sel["layer"]) & (trials.rho == sel["rho"])]
    assert len(chosen) == 1 and bool(chosen.meets_criterion.iloc[0]) and chosen.forget_top1.iloc[0] == 0.0
    assert sel["retain_drop"] == pytest.approx(max(base[k] - sel["metrics_search_split"][k]
                                                   for k in ("retain_id_top1", "objects_top1")))


def test_search_step_with_a_margin_takes_a_larger_step_and_records_the_threshold(setting, tiny_world, tiny_cfg):
    from slug.stages.clip import search_step

    inputs, model = setting
    s = {**tiny_cfg["search"], "rho_start": 0.01, "rho_margin": 0.25, "towers": ["vision"], "retain_on_fail": False}
    trials, sel = search_step(model, torch.device("cpu"), inputs, "elon_musk", CONCEPT, s,
                              world_eval_dirs(tiny_world), seed=0)
    assert list(trials.kind).count("margin") == 1 and trials.kind.iloc[-1] == "margin"
    assert sel["rho"] == pytest.approx(1.25 * sel["rho_threshold"]) and sel["rho_margin"] == 0.25
    assert all(layer.startswith("visual.") for layer in sel["layers_searched"])
    failing = trials[(trials.kind == "search") & ~trials.meets_criterion]
    assert len(failing) and failing.retain_id_top1.isna().all()  # retain_on_fail: false skipped their retain sets


def test_evaluate_concept_compares_the_two_checkpoints_on_the_test_split(setting, tiny_world, tiny_cfg, tmp_path):
    from slug.clip.models import load_model, save_state_dict
    from slug.stages.clip import evaluate_concept

    inputs, model = setting
    ev = {**tiny_cfg["evaluation"], "mia_seeds": 2, "mia_splits": 2}
    tar = str(tiny_world / "nonmember" / "00000.tar")
    dirs = world_eval_dirs(tiny_world)
    same, mats = evaluate_concept(model, torch.device("cpu"), inputs["checkpoint"], tar, [tar], "elon_musk", CONCEPT,
                                  ev, dirs, seed=0)
    assert same["cosine_names"][0] == CONCEPT and mats["before"].shape == (len(same["cosine_names"]),) * 2
    assert all(v == 0 for v in same["change"].values())  # the same weights before and after: nothing changed
    assert same["change_ci"]["retain_id_top1"]["ci"] == [0.0, 0.0]
    assert same["n_forget_pairs"] == same["n_nonmember_pairs"] > 0
    # an unlearned checkpoint: the text projection stepped along the forget gradient, far
    g_f = torch.load(inputs["forget"], weights_only=True)
    edited = load_model(model, torch.device("cpu")).model
    with torch.no_grad():
        p = dict(edited.named_parameters())["text_projection"]
        p.add_(make_delta(p, g_f["text_projection"], 2.0)[0])  # theta - lambda g_f, as SLUG's step
    save_state_dict(edited, tmp_path / "unlearned.pt")
    out, _ = evaluate_concept(model, torch.device("cpu"), str(tmp_path / "unlearned.pt"), tar, [tar], "elon_musk",
                              CONCEPT, ev, dirs, seed=0)
    scalars = [k for k in same["before"] if k != "cosine_matrix"]
    assert all(out["before"][k] == pytest.approx(same["before"][k]) for k in scalars) and out["after"] != same["after"]
    # the after metrics are those of the edited model, by the uncached evaluation the baselines use
    from slug.baselines import evaluate_model
    from slug.config import image_caps
    from slug.clip.evaluation import load_eval_set

    bundle = load_model({**model, "pretrained": str(tmp_path / "unlearned.pt")}, torch.device("cpu"))
    es = load_eval_set(dirs, "test", bundle.preprocess_val, **image_caps(ev), keep=[CONCEPT, *ev["cosine_names"]])
    ref = evaluate_model(bundle.model.eval(), bundle.tokenizer, es, es.target_index(CONCEPT))
    assert all(out["after"][k] == pytest.approx(v, abs=1e-6) for k, v in ref.items())
    assert out["after"]["cosine_matrix"] != out["before"]["cosine_matrix"]
    assert all(out["change"][k] == out["after"][k] - out["before"][k] for k in out["change"])
    lo, hi = out["change_ci"]["retain_id_top1"]["ci"]
    assert lo <= out["change"]["retain_id_top1"] <= hi


def test_present_keeps_the_first_file_of_each_named_input_the_rule_gave():
    from slug.workflow import present

    named = {"forget": "a.pt", "layers": ["l.tsv"], "clip_delta": [], "checkpoint": ["c.pt", "source.json"]}
    assert present(named, ("forget", "layers", "clip_delta", "unet", "checkpoint")) == {
        "forget": "a.pt", "layers": "l.tsv", "checkpoint": "c.pt"}


def test_the_diffusion_stages_train_search_and_evaluate_an_edit_that_the_records_describe(setting, tiny_world, tiny_cfg,
                                                                                          tmp_path):
    """sd_train, sd_search and sd_evaluate in a row on the tiny settings (the demo UNet, 4 steps)."""
    from slug.io import read_json
    from slug.stages.diffusion import evaluate_generation, save_unet, search_edit, train_unet

    inputs, model = setting
    cfg = copy.deepcopy(tiny_cfg["diffusion"])
    world = {"identities": str(tiny_world / "identities.json"), "characters": str(tiny_world / "characters.json")}
    unet, losses, info = train_unet(model, torch.device("cpu"), world, cfg, {"person": [CONCEPT]}, seed=0, threads=1)
    assert losses.step.iloc[-1] == cfg["train"]["steps"] - 1 and info["steps_done"] == cfg["train"]["steps"]
    assert info["final_loss_ema"] == losses.loss_ema.iloc[-1]
    assert CONCEPT in info["identities"] and info["parameters"] == sum(p.numel() for p in unet.parameters())
    assert len(info["styles"]) == cfg["styles"] and sum(info["training_images"].values()) == cfg["train"]["images"]
    save_unet(unet, tmp_path / "unet")
    write_json(tmp_path / "train.json", info)
    sd_inputs = {**inputs, "unet": str(tmp_path / "unet"), "info": str(tmp_path / "train.json")}
    delta, trials, sel = search_edit(model, torch.device("cpu"), sd_inputs, "elon_musk", CONCEPT, cfg, seed=0)
    assert list(delta) == [sel["layer"]] and sel["layer"].startswith(("transformer.", "token_embedding"))
    assert sel["rho_margin"] == cfg["search"]["rho_margin"] and "rho_margin" in sel and "selection_rule" in sel
    assert sel["inputs_sha256"] == {k: sha256(inputs[k]) for k in ("forget", "checkpoint")}
    assert sel["n_trials"] == int((trials.kind == "search").sum()) and sel["rho"] in set(trials.rho)
    atomic_torch_save(delta, tmp_path / "delta.pt")
    write_json(tmp_path / "selection.json", sel)
    metrics, grids = evaluate_generation(model, torch.device("cpu"), {"selection": str(tmp_path / "selection.json"),
                                                                      "delta": str(tmp_path / "delta.pt"),
                                                                      **{k: sd_inputs[k] for k in ("unet", "info")}},
                                         "elon_musk", CONCEPT, cfg)
    assert metrics["layer"] == sel["layer"] and metrics["rho"] == sel["rho"]
    assert set(grids) == {"target_before", "target_after", "retain_before", "retain_after"}
    assert grids["target_before"].shape == grids["target_after"].shape
    assert not torch.equal(grids["target_before"], grids["target_after"])  # the edit changed the target's images
    assert metrics["n_images"]["total_per_pass"] == 2 + cfg["eval"]["retain_images"] * (cfg["identities"] - 1
                                                                                        + cfg["objects"] + cfg["styles"])
    assert read_json(tmp_path / "selection.json")["layer"] == metrics["layer"]
