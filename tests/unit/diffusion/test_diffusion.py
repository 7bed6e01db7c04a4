"""Stable Diffusion through the CLIP text encoder: name mapping, parity, edits, pipelines, rules."""
from __future__ import annotations


import pytest
import torch

from slug import diffusion as D
from slug.clip import hf as hf_clip


def _text_state(model):
    return {k: v for k, v in model.state_dict().items() if hf_clip.is_text_tower(k)}


@torch.no_grad()
def _open_clip_hidden(model, tokens):
    x = model.token_embedding(tokens) + model.positional_embedding
    return model.ln_final(model.transformer(x, attn_mask=model.attn_mask))


def _in_proj_edit(model, layer: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = dict(model.named_parameters())[f"transformer.resblocks.{layer}.attn.in_proj_weight"]
    return {f"transformer.resblocks.{layer}.attn.in_proj_weight": 0.3 * torch.randn(w.shape, generator=g) * w.abs().mean()}


def test_name_mapping_covers_every_text_encoder_weight_and_round_trips(tiny_clip):
    model = tiny_clip.model
    oc = _text_state(model)
    hf = hf_clip.to_hf_state(oc)
    enc = hf_clip.convert_text_tower(model)
    enc_names = {k for k in enc.state_dict() if not k.endswith("position_ids")}
    assert set(hf) == enc_names  # every CLIPTextModel weight comes from exactly one open_clip tensor
    assert {n for n in oc if n not in hf_clip.NOT_IN_TEXT_ENCODER} == set(hf_clip.from_hf_state(hf))
    back = hf_clip.from_hf_state(hf)
    for k, v in back.items():
        assert torch.equal(v, oc[k]), k
    q, k_, v_ = (hf[f"encoder.layers.0.self_attn.{p}_proj.weight"] for p in "qkv")
    assert torch.equal(torch.cat([q, k_, v_]), oc["transformer.resblocks.0.attn.in_proj_weight"])
    with pytest.raises(KeyError, match="no Hugging Face CLIPTextModel counterpart"):
        hf_clip.to_hf_state({"transformer.resblocks.0.ls_1.gamma": torch.zeros(3)})


def test_converted_encoder_matches_open_clip_before_and_after_the_same_edit(tiny_clip):
    model = tiny_clip.model.eval()
    enc = hf_clip.convert_text_tower(model)
    tok = hf_clip.clip_tokenizer(int(model.positional_embedding.shape[0]))
    prompts = ["photo of Elon Musk", "a drawing of a red mushroom", ""]
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    assert torch.equal(ids, tiny_clip.tokenizer(prompts))  # the offline tokenizer = open_clip's
    with torch.no_grad():
        torch.testing.assert_close(enc(ids).last_hidden_state, _open_clip_hidden(model, ids), atol=1e-5, rtol=0)
        edit = _in_proj_edit(model, 1)
        c_fc = model.transformer.resblocks[0].mlp.c_fc.weight
        edit["transformer.resblocks.0.mlp.c_fc.weight"] = 0.2 * torch.ones_like(c_fc)
        before = enc(ids).last_hidden_state.clone()
        originals = hf_clip.apply_text_edit(enc, edit)
        params = dict(model.named_parameters())
        for name, d in edit.items():
            params[name].add_(d)
        after = enc(ids).last_hidden_state
        torch.testing.assert_close(after, _open_clip_hidden(model, ids), atol=1e-5, rtol=0)
        assert (after - before).abs().max() > 1e-3  # the edit did something
        hf_clip.restore(enc, originals)
        torch.testing.assert_close(enc(ids).last_hidden_state, before, atol=0, rtol=0)


def test_edits_the_pipeline_never_runs_are_refused(tiny_clip):
    model = tiny_clip.model
    n = len(model.transformer.resblocks)
    penultimate = hf_clip.convert_text_tower(model, num_hidden_layers=n - 1)  # as SD 2.1 cuts ViT-H/14
    with pytest.raises(hf_clip.EditNotApplicable, match=rf"text layer {n - 1}\).*runs layers 0..{n - 2} only"):
        hf_clip.apply_text_edit(penultimate, _in_proj_edit(model, n - 1))
    hf_clip.apply_text_edit(penultimate, _in_proj_edit(model, n - 2))  # a layer it runs is fine
    full = hf_clip.convert_text_tower(model)
    with pytest.raises(hf_clip.EditNotApplicable, match="clip_skip=1"):
        hf_clip.apply_text_edit(full, _in_proj_edit(model, n - 1), clip_skip=1)
    for name in ("text_projection", "visual.conv1.weight"):
        with pytest.raises(hf_clip.EditNotApplicable, match="search.towers: \\[text\\]"):
            hf_clip.check_edit({name: torch.zeros(1)}, full)


def _tiny_sd_pipeline(tiny_clip, pixel: bool):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    enc = hf_clip.convert_text_tower(tiny_clip.model)
    unet = D.demo_unet(enc.config.hidden_size, sample_size=16, channels=(8, 16))
    vae = None if pixel else AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=3,
                                           down_block_types=["DownEncoderBlock2D"] * 2, norm_num_groups=8,
                                           up_block_types=["UpDecoderBlock2D"] * 2, scaling_factor=1.0)
    return D.make_pipeline(unet, enc, hf_clip.clip_tokenizer(int(tiny_clip.model.positional_embedding.shape[0])),
                           D.sample_scheduler(D.train_scheduler()), vae)


@pytest.mark.parametrize("pixel", [True, False], ids=["pixel-space demo", "latent with a VAE"])
def test_edited_pipeline_changes_exactly_the_prompts_whose_embeddings_changed(tiny_clip, pixel):
    pipe = _tiny_sd_pipeline(tiny_clip, pixel)
    prompts = ["photo of Elon Musk", "Elon Musk headshot", "photo of Jeff Bezos", "a drawing of a red mushroom"]
    noise = D.fixed_noise(pipe, len(prompts), seed=7)
    before = D.generate(pipe, prompts, noise, steps=2)
    assert before.shape[:2] == (4, 3) and torch.isfinite(before).all()
    torch.testing.assert_close(D.generate(pipe, prompts, noise, steps=2), before, atol=0, rtol=0)  # same noise, same images
    # an edit of the rows of "elon"'s tokens changes those prompts' embeddings only
    rows = pipe.tokenizer("elon", add_special_tokens=False).input_ids
    emb = tiny_clip.model.token_embedding.weight
    delta = torch.zeros_like(emb)
    delta[rows] = 10.0 * emb.detach().std()
    e_before = D.encode_prompts(pipe.text_encoder, pipe.tokenizer, prompts)
    hf_clip.apply_text_edit(pipe, {"token_embedding.weight": delta})
    e_after = D.encode_prompts(pipe.text_encoder, pipe.tokenizer, prompts)
    after = D.generate(pipe, prompts, noise, steps=2)
    emb_changed = [bool((a - b).abs().max() > 0) for a, b in zip(e_after, e_before)]
    img_changed = [not torch.equal(a, b) for a, b in zip(after, before)]  # unchanged prompts: bit-identical images
    assert emb_changed == [True, True, False, False]
    assert img_changed == emb_changed


def test_demo_training_reduces_the_loss_and_recognition_counts_hits(tiny_clip):
    from slug.world import OBJECT_CLASSES, make_identities

    world = make_identities(6, seed=0, min_trait_distance=3)
    subjects = D.choose_subjects([i.name for i in world], ["Jeff Bezos"], 3, [v[0] for v in OBJECT_CLASSES.values()], 2)
    assert subjects.identities[0] == "Jeff Bezos" and len(subjects.identities) == 3
    images, captions, labels = D.render_training_set(world, subjects, 24, 16, seed=0)
    assert images.shape == (24, 3, 16, 16) and images.dtype == torch.uint8
    assert all(lab in cap for lab, cap in zip(labels, captions))  # named captions
    enc = hf_clip.convert_text_tower(tiny_clip.model)
    tok = hf_clip.clip_tokenizer(int(tiny_clip.model.positional_embedding.shape[0]))
    torch.manual_seed(0)
    unet = D.demo_unet(enc.config.hidden_size, sample_size=16, channels=(8, 16))

    def probe_loss() -> float:  # the denoising loss on fixed images, noise, timesteps and captions
        g = torch.Generator().manual_seed(1)
        x0 = images.float() / 127.5 - 1.0
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(1000, (len(x0),), generator=g)
        xt = D.train_scheduler().add_noise(x0, noise, t)
        with torch.no_grad():
            pred = unet(xt, t, encoder_hidden_states=D.encode_prompts(enc, tok, captions)).sample
        return torch.nn.functional.mse_loss(pred, noise).item()

    before = probe_loss()
    logs = D.train_demo_unet(unet, enc, tok, images, captions, steps=40, batch_size=8, progress=False)
    assert logs and all(torch.isfinite(torch.tensor(r["loss"])) for r in logs)
    assert probe_loss() < 0.9 * before  # seeded: 1.09 -> 0.76 here

    ps = D.evaluation_prompts(subjects, "Jeff Bezos", n_target=4, n_identity=2, n_object=2)
    assert ps.kinds.count("target") == 4 and len(ps) == 4 + 2 * 2 + 2 * 2
    preds = list(ps.subjects)
    preds[0] = subjects.identities[1]  # one target image recognised as someone else
    m = D.recognition_metrics(ps, preds, subjects)
    assert m["forget_top1"] == 3 / 4 and m["retain_id_top1"] == 1.0 and m["objects_top1"] == 1.0
    assert m["chance_identity"] == 1 / 3
    # the report's grids: the target's first images, then one per other subject (its first prompt)
    shown = D.grid_indices(ps, n_target=3)
    assert shown["target"] == [0, 1, 2]
    assert [ps.subjects[i] for i in shown["retain"]] == subjects.identities[1:] + subjects.objects
    assert all(ps.subjects.index(ps.subjects[i]) == i for i in shown["retain"])
    # the generation checks: target within 5 pt of chance after; others moved by at most 10 pt
    after = {**m, "forget_top1": 1 / 3 + 0.04, "retain_id_top1": 0.91, "objects_top1": 0.89}
    assert D.recognition_checks(m, after, 1 / 3) == {"target_before_above_chance": True,
                                                     "target_after_within_5pt_of_chance": True,
                                                     "identities_within_10pt": True, "objects_within_10pt": False}
    assert not D.recognition_checks(m, {**after, "forget_top1": 0.4}, 1 / 3)["target_after_within_5pt_of_chance"]


def test_grid_png_keeps_every_generated_pixel(tmp_path):
    import numpy as np
    from PIL import Image

    imgs = torch.rand(5, 3, 4, 6)
    D.save_grid_png(imgs, tmp_path / "g.png", nrow=4, scale=3)
    g = Image.open(tmp_path / "g.png")
    assert g.size == (3 * (2 + 4 * (6 + 2)), 3 * (2 + 2 * (4 + 2)))  # 4 x 2 cells, 2 px padding, enlarged 3x
    px = torch.from_numpy(np.array(g)).permute(2, 0, 1).float() / 255
    first = px[:, 3 * 2:3 * 2 + 12:3, 3 * 2:3 * 2 + 18:3]  # image 0, one pixel of each 3x3 block
    assert torch.allclose(first, imgs[0], atol=1 / 255)
    assert [f.name for f in tmp_path.iterdir()] == ["g.png"]  # no temporary file left behind


def test_a_partly_downloaded_pipeline_is_refused_with_the_download_command(tmp_path):
    (tmp_path / "model_index.json").write_text("{}")
    for part in ("scheduler", "text_encoder", "tokenizer"):
        (tmp_path / part).mkdir()
        (tmp_path / part / "config.json").write_text("{}")
    (tmp_path / "unet").mkdir()  # empty: the download stopped here
    with pytest.raises(FileNotFoundError, match=r"incomplete: missing or empty unet, vae\. Download it again: "
                                                r"huggingface-cli download some/model"):
        D.check_pipeline_dir(tmp_path, "some/model")
    (tmp_path / "unet" / "config.json").write_text("{}")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text("{}")
    D.check_pipeline_dir(tmp_path, "some/model")  # complete: no error


def test_a_time_budget_guards_but_never_shortens_a_training_silently(tiny_clip):
    from slug.budget import TimeBudget, TimeBudgetExceeded

    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    b = TimeBudget(1.0, "diffusion.train.max_minutes", "diffusion.train.steps", 100, clock=clock)
    now[0] = 59.0
    assert b.reached(10) is False  # within the budget
    now[0] = 61.0
    with pytest.raises(TimeBudgetExceeded, match=r"diffusion.train.max_minutes = 1 min reached after 20 of 100 steps "
                       r"\(3.05 s per step; all 100 need about 5.1 min at this rate\).*diffusion.train.steps"):
        b.reached(20)
    assert b.reached(100) is False  # the work is done: nothing to guard
    assert TimeBudget(None, "x", "y", 5, clock=clock).reached(1) is False  # null: no guard
    with pytest.raises(ValueError, match="diffusion.train.max_minutes must be > 0 minutes or null"):
        TimeBudget(0, "diffusion.train.max_minutes", "y", 5)
    limited = TimeBudget(1.0, "s", "l", 100, stop=True, clock=clock)
    now[0] = 200.0
    assert limited.reached(30) is True and limited.record() == {
        "max_minutes": 1.0, "time_limited": True, "stopped_by_time_budget": True, "stopped_at": 30}

    # the real training: a budget that is reached raises; a time-limited one ends early and says so
    enc = hf_clip.convert_text_tower(tiny_clip.model)
    tok = hf_clip.clip_tokenizer(int(tiny_clip.model.positional_embedding.shape[0]))
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    caps = ["photo of Elon Musk"] * 8

    def train(budget):
        torch.manual_seed(0)
        unet = D.demo_unet(enc.config.hidden_size, sample_size=16, channels=(8, 16))
        return D.train_demo_unet(unet, enc, tok, images, caps, steps=6, batch_size=4, progress=False, budget=budget)

    assert train(None)[-1]["step"] == 5
    ticks = iter(range(0, 10**6, 100))  # every reading of the clock 100 s later
    slow = TimeBudget(0.5, "diffusion.train.max_minutes", "diffusion.train.steps", 6, clock=lambda: next(ticks))
    with pytest.raises(TimeBudgetExceeded, match="reached after 1 of 6 steps"):
        train(slow)
    ticks = iter(range(0, 10**6, 100))
    limited = TimeBudget(0.5, "s", "l", 6, stop=True, clock=lambda: next(ticks))
    logs = train(limited)
    assert logs[-1]["step"] == 0 and limited.record()["stopped_at"] == 1


def test_a_concept_outside_the_generators_cast_is_refused_with_the_setting_to_change():
    from slug.diffusion.subjects import Subjects, require_concepts, resolve_subjects

    cast = {"identities": ["Elon Musk", "Ada Lovelace"], "objects": ["cat"]}
    assert resolve_subjects(cast, ["Elon Musk"], None).identities == ["Elon Musk", "Ada Lovelace"]
    with pytest.raises(ValueError, match=r"\['Jeff Bezos'\] missing from diffusion.identities .*add it to diffusion"):
        resolve_subjects(cast, ["Elon Musk", "Jeff Bezos"], None)
    trained = Subjects(["Elon Musk", "Ada Lovelace"], ["cat"])  # what sd_train recorded
    assert require_concepts(trained, ["Ada Lovelace"]) is trained
    with pytest.raises(ValueError, match="Jeff Bezos"):
        require_concepts(trained, ["Jeff Bezos"])
