"""Stable Diffusion for every kind of concept: the generator's cast per kind, prompts, recognition tasks,
the demo training set with characters and styled objects, and the search's view of the metrics."""
from __future__ import annotations

import math

import pytest
import torch

from slug import diffusion as D
from slug.clip import hf as hf_clip
from slug.diffusion.subjects import Subjects, require_concepts, resolve_subjects

WORLD = {"person": ["Ada", "Bo", "Cy", "Di"], "character": ["Mickey Mouse", "Iron Man", "Kiki Cat"],
         "style": ["Van Gogh", "Pop Art", "Ukiyoe", "Mosaic"]}


def test_counts_take_each_kinds_concepts_first_and_lists_are_the_whole_cast():
    cfg = {"identities": 3, "objects": 2, "characters": 2, "styles": 3}
    s = resolve_subjects(cfg, {"person": ["Cy"], "character": ["Iron Man"], "style": ["Mosaic"]}, WORLD)
    assert s.identities == ["Cy", "Ada", "Bo"] and s.characters == ["Iron Man", "Mickey Mouse"]
    assert s.styles == ["Mosaic", "Van Gogh", "Pop Art"] and len(s.objects) == 2
    assert s.kind_of("Iron Man") == "character" and s.kind_of("Mosaic") == "style"
    # chance within each kind's task: a character is classified among characters *and* identities
    assert s.chance("person") == 1 / 3 and s.chance("character") == 1 / 5 and s.chance("style") == 1 / 3
    assert [t.name for t in s.tasks()] == ["identities", "objects", "characters", "styles"]
    none = resolve_subjects({**cfg, "characters": 0, "styles": 0}, ["Ada"], WORLD)
    assert none.characters == [] and none.styles == [] and [t.name for t in none.tasks()] == ["identities", "objects"]
    with pytest.raises(ValueError, match=r"\['Iron Man'\] missing from diffusion.characters \[\]: .*add it to "
                                         r"diffusion.characters"):
        resolve_subjects({**cfg, "characters": 0}, {"character": ["Iron Man"]}, WORLD)
    with pytest.raises(ValueError, match=r"\['Pikachu'\] are not characters of the demo world"):
        resolve_subjects(cfg, {"character": ["Pikachu"]}, WORLD)
    # a real model lists its cast; a count of a kind needs the demo world, 0 of a kind does not
    real = {"identities": ["Elon Musk"], "objects": ["cat"], "characters": ["Mickey Mouse"], "styles": 0}
    assert resolve_subjects(real, {"character": ["Mickey Mouse"]}, None).styles == []
    with pytest.raises(ValueError, match="diffusion.styles given as a count needs the demo world"):
        resolve_subjects({**real, "styles": 2}, [], None)
    # what sd_train records is read back, and an old record (people and objects only) still reads
    assert Subjects.from_record(s.record()) == s
    old = Subjects.from_record({"identities": ["Ada"], "objects": ["cat"]})
    assert old.characters == [] and require_concepts(old, ["Ada"]) is old


def test_prompts_and_recognition_per_kind_score_each_image_within_its_own_task():
    s = Subjects(["Ada", "Bo"], ["cat", "cup"], ["Mickey Mouse", "Iron Man"], ["Van Gogh", "Pop Art", "Mosaic"])
    ps = D.evaluation_prompts(s, "Van Gogh", n_target=4, n_identity=2, n_object=2, kind="style")
    target = [p for p, k in zip(ps.prompts, ps.kinds) if k == "target"]
    assert target == ["a cat in Van Gogh style", "a cup in Van Gogh style"] * 2  # the UnlearnCanvas form, every object
    assert set(ps.tasks[:4]) == {"styles"} and len(ps) == 4 + 2 * 2 + 2 * 2 + 2 * 2 + 2 * 2
    assert ps.prompts[ps.subjects.index("Mickey Mouse")] == "Mickey Mouse"
    assert ps.tasks[ps.subjects.index("Iron Man")] == "characters" and "Van Gogh" not in ps.subjects[4:]
    preds = list(ps.subjects)
    preds[0] = "Pop Art"  # one target image taken for another style
    i = ps.subjects.index("Iron Man")
    preds[i] = "Ada"  # one character image taken for a person (the characters task holds both)
    m = D.recognition_metrics(ps, preds, s)
    assert m["forget_top1"] == 3 / 4
    assert m["characters_top1"] == pytest.approx((1.0 + 0.5) / 2) and m["styles_top1"] == 1.0
    assert m["retain_id_top1"] == 1.0 and m["objects_top1"] == 1.0
    assert m["chance"] == {"identities": 1 / 2, "objects": 1 / 2, "characters": 1 / 4, "styles": 1 / 3}
    assert D.retain_keys(m) == ("retain_id_top1", "objects_top1", "characters_top1", "styles_top1")
    after = {**m, "forget_top1": 1 / 3, "characters_top1": 0.6}
    checks = D.recognition_checks(m, after, s.chance("style"))
    assert checks == {"target_before_above_chance": True, "target_after_within_5pt_of_chance": True,
                      "identities_within_10pt": True, "objects_within_10pt": True,
                      "characters_within_10pt": False, "styles_within_10pt": True}
    # a people-only generator keeps its two tasks and the names of its checks
    p = D.evaluation_prompts(Subjects(["Ada", "Bo"], ["cat"]), "Ada", 2, 1, 1)
    assert p.kinds == ["target", "target", "person", "object"] and p.tasks == ["identities"] * 3 + ["objects"]


def test_the_demo_training_set_draws_characters_and_styled_objects_with_their_names_in_the_captions():
    from slug.world import make_characters, make_identities

    world = make_identities(6, seed=0, min_trait_distance=3)
    chars = make_characters(3)
    s = Subjects([i.name for i in world[:2]], ["cup", "umbrella"], [c.name for c in chars[:2]], ["Van Gogh", "Mosaic"])
    imgs, caps, labels = D.render_training_set(world, s, 120, 16, seed=0, person_fraction=0.4, world_characters=chars,
                                               character_fraction=0.3, style_fraction=0.5)
    assert imgs.shape == (120, 3, 16, 16) and set(labels) <= {*s.identities, *s.objects, *s.characters, *s.styles}
    assert all(lab in cap for lab, cap in zip(labels, caps))  # every caption names its subject
    counts = {k: sum(lab in s.of(k) for lab in labels) for k in D.KINDS}
    assert all(counts[k] > 0 for k in D.KINDS), counts
    # without characters and styles the draws are those of a people-and-objects generator
    plain = Subjects(s.identities, s.objects)
    a = D.render_training_set(world, plain, 30, 16, seed=0, person_fraction=0.4)
    b = D.render_training_set(world, plain, 30, 16, seed=0, person_fraction=0.4, world_characters=chars,
                              character_fraction=0.3, style_fraction=0.5)
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    with pytest.raises(ValueError, match=r"characters \['Pikachu'\] are not characters of the demo world"):
        D.render_training_set(world, Subjects(s.identities, s.objects, ["Pikachu"]), 4, 16, 0, world_characters=chars)


def test_the_generation_evaluator_searches_on_every_tasks_retain_rate(tiny_clip):
    from slug.core.search import MetricSpec

    torch.manual_seed(0)
    enc = hf_clip.convert_text_tower(tiny_clip.model)
    unet = D.demo_unet(enc.config.hidden_size, sample_size=16, channels=(8, 16))
    pipe = D.make_pipeline(unet, enc, hf_clip.clip_tokenizer(int(tiny_clip.model.positional_embedding.shape[0])),
                           D.sample_scheduler(D.train_scheduler()))
    s = Subjects(["Ada", "Bo"], ["cat"], ["Mickey Mouse"], ["Van Gogh", "Mosaic"])
    ps = D.evaluation_prompts(s, "Mickey Mouse", 2, 1, 1, kind="character")
    ev = D.GenerationEvaluator(pipe, D.Recogniser(tiny_clip, s), ps, seed=0, steps=2, guidance=3.0)
    # the target is the only character: no other character is scored, so the retain keys are the other tasks'
    assert ev.spec.retain == ("retain_id_top1", "objects_top1", "styles_top1")
    m = ev.baseline()
    assert set(ev.spec.retain) <= set(m) and "characters_top1" not in m
    assert all(0.0 <= m[k] <= 1.0 for k in ev.spec.retain) and not math.isnan(m["forget_top1"])
    people = D.evaluation_prompts(Subjects(["Ada", "Bo"], ["cat"]), "Ada", 2, 1, 1)
    assert D.GenerationEvaluator(pipe, D.Recogniser(tiny_clip, Subjects(["Ada", "Bo"], ["cat"])), people, 0, 2,
                                 3.0).spec == MetricSpec(columns=("retain_id_top1", "objects_top1"))
