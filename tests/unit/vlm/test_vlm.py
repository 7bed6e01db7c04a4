"""The VLM family (slug.vlm): open_clip vision tower <-> Hugging Face CLIPVisionModel, edits a LLaVA never reads
refused, and the demo VLM (a real transformers LlavaForConditionalGeneration) trained, searched and evaluated
on the tiny world with the shared step search."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from slug.vlm.hf import (VisionEditNotApplicable, apply_vision_edit, check_vision_edit, convert_vision_tower,
                         from_hf_vision_state, layers_read, to_hf_vision_state, vlm_candidates)

CONCEPT = "Elon Musk"


def _open_clip_hidden_states(model, x):
    outs = []
    hooks = [b.register_forward_hook(lambda m, i, o: outs.append(o)) for b in model.visual.transformer.resblocks]
    try:
        with torch.no_grad():
            model.encode_image(x)
    finally:
        for h in hooks:
            h.remove()
    return outs


def test_converted_tower_gives_open_clips_hidden_states_before_and_after_the_same_edit(tiny_clip):
    model = tiny_clip.model.eval()
    hf = convert_vision_tower(model)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    name = "visual.transformer.resblocks.0.attn.in_proj_weight"
    delta = 0.05 * torch.randn_like(dict(model.named_parameters())[name])
    for edit in (False, True):
        if edit:
            apply_vision_edit(hf, {name: delta}, feature_layer=-2)
            with torch.no_grad():
                dict(model.named_parameters())[name].add_(delta)
        ours = _open_clip_hidden_states(model, x)
        theirs = hf(x, output_hidden_states=True).hidden_states
        assert len(theirs) == len(ours) + 1
        for k, o in enumerate(ours):
            torch.testing.assert_close(theirs[k + 1], o, atol=1e-5, rtol=0)
    state = {k: v for k, v in model.state_dict().items() if k.startswith("visual.") and k != "visual.proj"}
    back = from_hf_vision_state(to_hf_vision_state(state))
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)


def test_edits_the_language_model_never_reads_are_refused_with_the_fix(tiny_clip):
    params = dict(tiny_clip.model.named_parameters())
    n = len(tiny_clip.model.visual.transformer.resblocks)  # 2: LLaVA's -2 reads layer 0's output
    assert layers_read(n, -2) == n - 1 and layers_read(n, -1) == n
    for name in ("visual.transformer.resblocks.1.mlp.c_fc.weight", "visual.proj", "visual.ln_post.weight"):
        with pytest.raises(VisionEditNotApplicable, match="vision_feature_layer=-2.*choose a layer"):
            check_vision_edit({name: params[name]}, n, -2)
    text = "transformer.resblocks.0.mlp.c_fc.weight"
    with pytest.raises(VisionEditNotApplicable, match="not a vision-tower tensor"):
        check_vision_edit({text: params[text]}, n)
    last = "visual.transformer.resblocks.1.mlp.c_fc.weight"
    check_vision_edit({last: params[last]}, n, -1)  # with -1 the last layer is read
    ranked = pd.DataFrame({"layer": ["visual.proj", "visual.transformer.resblocks.1.mlp.c_fc.weight",
                                     "visual.transformer.resblocks.0.mlp.c_fc.weight", "visual.conv1.weight",
                                     "transformer.resblocks.0.mlp.c_fc.weight"],
                           "tower": ["vision", "vision", "vision", "vision", "text"],
                           "importance": [9.0, 8.0, 2.0, 1.0, 5.0], "alignment": [0.1, 0.1, 0.2, 0.1, 0.1]})
    assert vlm_candidates(ranked, 3, layers_read(n, -2)) == ["visual.transformer.resblocks.0.mlp.c_fc.weight",
                                                              "visual.conv1.weight"]


def test_an_answer_names_a_person_by_whole_words_dots_and_all():
    from slug.vlm.data import names_answer, rouge_l

    assert names_answer("This is Robert Downey Jr .", "Robert Downey Jr.")
    assert names_answer("the person is elon musk.", "Elon Musk") and not names_answer("Elon Muskrat", "Elon Musk")
    assert rouge_l("This is Elon Musk.", "This is Elon Musk .") == 1.0 and rouge_l("", "a cup") == 0.0


def test_the_evaluator_restores_the_tower_exactly(tiny_clip):
    from slug.vlm.evaluation import NamingTask, VLMEvaluator
    from slug.vlm.model import build_tokenizer, demo_llava

    tok = build_tokenizer(["USER: <image>\nWho is this? ASSISTANT: This is Elon Musk. Jeff Bezos."])
    vlm = demo_llava(convert_vision_tower(tiny_clip.model.eval()), tok, hidden_size=32, layers=1, heads=2,
                     intermediate_size=64)
    before = {k: v.clone() for k, v in vlm.state_dict().items()}
    task = NamingTask("identities", "retain_id", "person", ["Elon Musk", "Jeff Bezos"],
                      torch.randn(4, 3, 32, 32), torch.tensor([0, 0, 1, 1]), "Who is this?")
    ev = VLMEvaluator(vlm, tok, [task], ("identities", 0), max_new_tokens=3)
    name = "visual.transformer.resblocks.0.attn.in_proj_weight"
    edit = {name: torch.randn_like(dict(tiny_clip.model.named_parameters())[name])}
    ev.evaluate(edit)
    ev.evaluate(edit, forget_only=True)
    assert all(torch.equal(v, before[k]) for k, v in vlm.state_dict().items())
    with pytest.raises(VisionEditNotApplicable):
        ev.evaluate({"visual.proj": dict(tiny_clip.model.named_parameters())["visual.proj"]})
    assert all(torch.equal(v, before[k]) for k, v in vlm.state_dict().items())


def test_features_computed_once_are_what_llava_merges(tiny_clip):
    from slug.vlm.model import answer, build_tokenizer, demo_llava, embed_with_features, prompt_ids, tower_features

    tok = build_tokenizer(["USER: <image>\nWho is this? ASSISTANT: This is Elon Musk."])
    vlm = demo_llava(convert_vision_tower(tiny_clip.model.eval()), tok, hidden_size=32, layers=1, heads=2,
                     intermediate_size=64)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    feats = tower_features(vlm, x)
    assert feats.shape == (2, 16, 32)  # 4 x 4 patches, the class token dropped
    ids = torch.tensor([prompt_ids(tok, "Who is this?", 16)] * 2)
    with torch.no_grad():
        ours = vlm(inputs_embeds=embed_with_features(vlm, ids, feats)).logits
        theirs = vlm(input_ids=ids, pixel_values=x).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert answer(vlm, tok, x, "Who is this?", 4) == answer(vlm, tok, x, "Who is this?", 4, features=feats)


@pytest.fixture(scope="module")
def vlm_setting(tmp_path_factory, tiny_world):
    """The tiny world's demo VLM (trained briefly), the concept's forget gradient and a layer ranking."""
    from conftest import REPO, TINY_ARCH
    from slug.clip.evaluation import load_eval_set
    from slug.clip.models import load_clip, save_state_dict
    from slug.config import load_yaml, validate_config
    from slug.core.gradients import forget_gradient
    from slug.core.ranking import layer_scores
    from slug.io import atomic_torch_save, write_tsv
    from slug.stages.vlm import train_vlm
    from slug.vlm.model import save_vlm
    from slug.world import world_eval_dirs

    tmp = tmp_path_factory.mktemp("vlm")
    cfg = validate_config(load_yaml(REPO / "tests" / "configs" / "tiny.yaml"))["vlm"]
    cfg["train"].update(steps=300, per_class=8, batch_size=32, hidden_size=64, layers=1, intermediate_size=128, lr=0.004)
    torch.manual_seed(0)
    clip = load_clip(TINY_ARCH)
    save_state_dict(clip.model, tmp / "checkpoint.pt")
    model = {"arch": TINY_ARCH, "pretrained": str(tmp / "checkpoint.pt")}
    vlm, tok, losses, info = train_vlm(model, torch.device("cpu"), {"identities": str(tiny_world / "identities.json"),
                                       "characters": str(tiny_world / "characters.json")}, cfg, 32, 0)
    save_vlm(vlm, tok, tmp / "llava")
    m = clip.model.eval()
    es = load_eval_set(world_eval_dirs(tiny_world), "search", clip.preprocess_val)
    names = [n for n, p in m.named_parameters() if p.ndim > 1]
    img = es.id_images[es.id_labels == es.target_index(CONCEPT)]
    g_f = forget_gradient(m, img, clip.tokenizer([f"a photo of {CONCEPT}"] * len(img)), names, progress=False)
    oth = es.id_images[es.id_labels != es.target_index(CONCEPT)][:16]
    g_r = forget_gradient(m, oth, clip.tokenizer(["a photo"] * len(oth)), names, progress=False)
    atomic_torch_save(g_f, tmp / "forget.pt")
    write_tsv(tmp / "layers.tsv", layer_scores(dict(m.named_parameters()), g_f, g_r))
    files = {"vlm": str(tmp / "llava"), "forget": str(tmp / "forget.pt"), "layers": str(tmp / "layers.tsv")}
    return files, model, cfg, losses, info, world_eval_dirs(tiny_world)


def test_demo_vlm_learns_to_name_people_with_its_tower_frozen(vlm_setting, tiny_clip):
    from slug.vlm.model import load_vlm, tower

    files, model, cfg, losses, info, _ = vlm_setting
    assert losses.loss_ema.iloc[-1] < 0.5 * losses.loss.iloc[0]
    assert info["training_images"] == {"object": 25 * 8, "person": 8 * 8}
    vlm, tok = load_vlm(files["vlm"])
    ck = torch.load(model["pretrained"], weights_only=True)
    frozen = from_hf_vision_state(dict(tower(vlm).state_dict()))
    assert all(torch.equal(frozen[k], ck[k]) for k in frozen)  # LLaVA trains the projector and the LM only
    assert vlm.config.vision_feature_layer == -2 and vlm.config.vision_feature_select_strategy == "default"


def test_vlm_search_and_evaluation_through_the_shared_driver(vlm_setting, tmp_path):
    from slug.core.search import select_trial, SearchTrial
    from slug.io import atomic_torch_save, write_json
    from slug.stages.vlm import PHRASINGS, evaluate_edit, search_edit

    files, model, cfg, _, _, dirs = vlm_setting
    delta, trials, sel = search_edit(model, torch.device("cpu"), files, "elon_musk", CONCEPT, "person", cfg, dirs, 0)
    assert sel["baseline_search_split"]["forget_named"] > 0  # the trained VLM names the concept before
    assert set(trials.layer) <= {n for n in sel["layers_searched"]} and len(sel["layers_searched"]) >= 1
    assert all(n.startswith("visual.") and "resblocks.1." not in n for n in sel["layers_searched"])
    (name, d), = delta.items()
    assert name == sel["layer"] and d.abs().sum() > 0
    # the record is the shared driver's choice from its own trials (rule and spec rebuilt from the table)
    rows = [SearchTrial(r.layer, r.tower, int(r.iteration), r.rho, r.lam, bool(r.meets_criterion),
                        {k: getattr(r, k) for k in ("forget_named", "retain_id_named", "objects_named")})
            for r in trials.itertuples() if r.kind == "search"]
    from slug.vlm.evaluation import VLMEvaluator  # noqa: F401  (the spec's keys)
    from slug.core.search import MetricSpec
    spec = MetricSpec(forget=("forget_named",), retain=("retain_id_named", "objects_named"),
                      columns=("retain_id_named", "objects_named"))
    best, note = select_trial(rows, sel["baseline_search_split"], cfg["search"]["max_retain_drop"], "forget_named", spec)
    assert (best.layer, best.rho) == (sel["layer"], sel["rho"]) and note["criterion_met"] == sel["criterion_met"]
    atomic_torch_save(delta, tmp_path / "delta.pt")
    write_json(tmp_path / "selection.json", sel)
    inputs = {**files, "selection": str(tmp_path / "selection.json"), "delta": str(tmp_path / "delta.pt")}
    rec, examples, images = evaluate_edit(model, torch.device("cpu"), inputs, "elon_musk", CONCEPT, "person", cfg, dirs)
    assert set(rec["phrasings"]) == set(PHRASINGS)
    from slug.vlm.data import TRAIN_QUESTIONS
    unseen = rec["phrasings"]["unseen"]["before"]["questions"]
    assert all(unseen[k] not in TRAIN_QUESTIONS[k] and unseen[k] != PHRASINGS["search"][k] for k in unseen)
    assert rec["forget_before"] == rec["phrasings"]["search"]["before"]["forget_named"]
    assert examples.is_target.sum() >= 1 and len(images) == len(examples) and images[0].dtype.name == "uint8"
    json.dumps(rec)  # a JSON record
