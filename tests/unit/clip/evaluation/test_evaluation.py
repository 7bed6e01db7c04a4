"""Evaluation: membership inference, cached vs uncached metrics."""
from slug.world import world_eval_dirs
import numpy as np
import pytest
import torch

from slug.clip.evaluation import (CachedEvaluator, EvalSet, Task, bootstrap_change, eval_tasks, load_eval_set, mia_score,
                                  score)
from slug.clip.evaluation.tasks import image_features
from slug.core.gradients import candidate_names


def test_mia_is_chance_on_identical_distributions_and_perfect_on_separable_ones():
    rng = np.random.default_rng(0)
    same_mean, _ = mia_score(rng.normal(0, 1, 400), rng.normal(0, 1, 400))
    assert 40 <= same_mean <= 60
    sep_mean, sep_std = mia_score(rng.normal(5, 0.5, 200), rng.normal(-5, 0.5, 300))
    assert sep_mean > 99 and sep_std < 1


def test_metrics_forget_only_the_target_and_average_retain_per_identity():
    e = torch.eye(6)
    # identity 0 is the target: one image recognised, one taken for identity 1 (0 comes second)
    id_feats = torch.stack([e[0], e[1] + 0.5 * e[0], e[1], e[1], e[2], e[3] + 0.1 * e[2], e[3], e[4], e[5]])
    id_labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4, 5])
    obj_feats, obj_labels = torch.stack([e[0], e[1], e[2], e[0]]), torch.tensor([0, 1, 2, 2])
    es = EvalSet(torch.empty(0), id_labels, list("ABCDEF"), torch.empty(0), obj_labels, list("xyz"))
    feats, clfs = {"identities": id_feats, "objects": obj_feats}, {"identities": e, "objects": e[:3]}
    m = score(feats, clfs, eval_tasks(es), target=("identities", 0))
    assert list(m) == ["forget_top1", "retain_id_top1", "objects_top1", "forget_top5", "retain_id_top5", "objects_top5"]
    assert m["forget_top1"] == 0.5 and m["forget_top5"] == 1.0
    # per identity without the target: (1 + 1/2 + 1 + 1 + 1) / 5; per image it would be 6/7, with the target 5/6
    assert m["retain_id_top1"] == pytest.approx(0.9) and m["retain_id_top5"] == 1.0
    assert m["objects_top1"] == 0.75 and m["objects_top5"] == 1.0  # top-5 of 3 classes: all of them
    untargeted = score(feats, clfs, eval_tasks(es), target=None)
    assert "forget_top1" not in untargeted and untargeted["retain_id_top1"] == pytest.approx(5 / 6)


def test_a_concept_is_one_class_of_its_own_task_and_every_other_task_is_retained_on_its_own():
    """A third task (styles) with the concept in it: forget is measured within that task, the identities and
    objects keep their full classes, and the styles' retain accuracy leaves the concept's class out."""
    e = torch.eye(4)
    tasks = [Task("identities", "retain_id", list("AB"), ("{}.",), torch.empty(2), torch.tensor([0, 1])),
             Task("objects", "objects", list("xy"), ("a {}.",), torch.empty(2), torch.tensor([0, 1]), per_class=False),
             Task("styles", "styles", list("PQRS"), ("{} style.",), torch.empty(6), torch.tensor([0, 0, 1, 2, 3, 3]))]
    feats = {"identities": e[:2, :2], "objects": e[[1, 1], :2],  # objects: one right of two
             "styles": e[[0, 1, 1, 2, 0, 3]]}  # P: one of two; S: one of two; Q and R right
    clfs = {"identities": e[:2, :2], "objects": e[:2, :2], "styles": e}
    m = score(feats, clfs, tasks, target=("styles", 0))
    assert m["forget_top1"] == 0.5
    assert m["retain_id_top1"] == 1.0 and m["objects_top1"] == 0.5
    assert m["styles_top1"] == pytest.approx((1 + 1 + 0.5) / 3)  # Q, R, S: P is the concept, left out
    assert score(feats, clfs, tasks, target=("identities", 0))["styles_top1"] == pytest.approx((0.5 + 1 + 1 + 0.5) / 4)


def test_bootstrap_change_is_the_metric_change_with_an_interval_that_narrows_with_more_images():
    gen = torch.Generator().manual_seed(0)

    def world(per_class: int, classes: int = 10):
        labels = torch.arange(classes).repeat_interleave(per_class)
        before = torch.rand(len(labels), generator=gen) < 0.9
        after = before.clone()
        flip = torch.rand(len(labels), generator=gen) < 0.05  # about 5% of the images change, both ways
        after[flip] = ~after[flip]
        return before, after, labels

    before, after, labels = world(40)
    micro = bootstrap_change(before, after, labels, macro=False)
    assert micro["change"] == pytest.approx(float(after.float().mean() - before.float().mean()))
    lo, hi = micro["ci"]
    assert lo < micro["change"] < hi and hi - lo > 0
    # per class, one class (the target) left out: the retain identities' definition in score()
    macro = bootstrap_change(before, after, labels, macro=True, exclude=3)
    keep = labels != 3
    per_class = [float(after[labels == c].float().mean() - before[labels == c].float().mean()) for c in range(10) if c != 3]
    assert macro["change"] == pytest.approx(np.mean(per_class)) and macro["n_classes"] == 9
    assert macro["n_images"] == int(keep.sum())
    # sixteen times the images: the interval is about four times narrower (1/sqrt(n))
    big = bootstrap_change(*world(640), macro=False)
    ratio = (hi - lo) / (big["ci"][1] - big["ci"][0])
    assert 2.5 < ratio < 6.5, ratio
    # no image changed: no change and no uncertainty about it; paired, not two independent samples
    same = bootstrap_change(before, before.clone(), labels, macro=False)
    assert same["change"] == 0.0 and same["ci"] == [0.0, 0.0]
    # seeded: the same interval every time
    assert bootstrap_change(before, after, labels, macro=False)["ci"] == micro["ci"]
    with pytest.raises(ValueError, match="one entry per image"):
        bootstrap_change(before, after[:-1], labels, macro=False)


def test_cached_evaluation_equals_uncached_for_every_editable_tensor(tiny_clip, tiny_world):
    es = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val)
    assert len(es.id_labels) == 8 * 2  # the 'search' half of 4 images per identity
    target = es.target_index("Elon Musk")
    ev = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, target, batch_size=5)  # several chunks
    assert set(ev._staged) == {"vision", "text"}  # open_clip's CLIP runs the partial forward
    params = dict(tiny_clip.model.named_parameters())
    # every candidate tensor (each block half, ln_post/ln_final, both projections, conv1) and the embeddings
    names = candidate_names(tiny_clip.model) + ["visual.class_embedding", "visual.positional_embedding",
                                                "token_embedding.weight", "visual.transformer.resblocks.1.attn.in_proj_bias"]
    before = {k: v.detach().clone() for k, v in tiny_clip.model.state_dict().items()}
    torch.manual_seed(0)
    for layer in names:
        delta = 0.5 * torch.randn_like(params[layer]) * params[layer].detach().std().clamp_min(0.1)
        tower = "vision" if layer.startswith("visual.") else "text"
        stage = ev._staged[tower].stage_of(layer)
        cached = ev.evaluate({layer: delta})
        assert ev._cache.get(tower, (0,))[0] == stage  # one depth per tower: the layer being searched
        forget_only = ev.evaluate({layer: delta}, forget_only=True)  # the target's images and names alone
        assert torch.equal(params[layer].detach(), before[layer]), f"evaluate() left {layer} edited"
        assert set(forget_only) == {"forget_top1", "forget_top5"}
        assert all(forget_only[k] == pytest.approx(cached[k], abs=1e-6) for k in forget_only), layer
        acts = ev._entering(tower, stage)  # the unedited activations entering the edited stage
        with torch.no_grad():
            params[layer].add_(delta)  # restored by copy below: (w + d) - d is not always w in floating point
            uncached = ev.evaluate_uncached()
            partial = ev._finish(tower, stage, acts, ("identities", "objects"))
            full = image_features(ev.model, ev.tasks) if tower == "vision" else ev._classifiers()
            params[layer].copy_(before[layer])
        for k in cached:
            assert cached[k] == pytest.approx(uncached[k], abs=1e-5), (layer, k)
        assert set(partial) == set(full) == {"identities", "objects"}
        for g in full:
            torch.testing.assert_close(partial[g], full[g], atol=1e-5, rtol=0, msg=layer)
    # every tensor of the model is bit-identical after all the edits, and scoring it afresh gives the baseline
    after = tiny_clip.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert ev.evaluate_uncached() == pytest.approx(ev.baseline(), abs=1e-6)


def test_partial_forward_can_be_turned_off_and_gives_the_same_metrics(tiny_clip, tiny_world):
    es = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val)
    target = es.target_index("Elon Musk")
    fast = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, target)
    slow = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, target, partial=False)
    assert not slow._staged
    params = dict(tiny_clip.model.named_parameters())
    torch.manual_seed(3)
    edits = {"visual.transformer.resblocks.1.mlp.c_fc.weight": None, "transformer.resblocks.0.attn.out_proj.weight": None}
    edits = {n: 0.5 * torch.randn_like(params[n]) * params[n].detach().std() for n in edits}
    a, b = fast.evaluate(edits), slow.evaluate(edits)  # both towers edited at once
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-5) for k in a)
    fa, fb = fast.evaluate(edits, forget_only=True), slow.evaluate(edits, forget_only=True)
    assert fa == pytest.approx(fb, abs=1e-6) and fa == pytest.approx({k: a[k] for k in fa}, abs=1e-6)
    with pytest.raises(ValueError, match="needs a target"):
        CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, None).evaluate(edits, forget_only=True)
    assert fast.cache_bytes() > 0 and slow.cache_bytes() == 0
    with pytest.raises(KeyError, match="not in the model"):
        fast.evaluate({"visual.nope": torch.zeros(1)})

def test_unknown_identity_is_named(tiny_clip, tiny_world):
    es = load_eval_set(world_eval_dirs(tiny_world), "test", tiny_clip.preprocess_val)
    with pytest.raises(ValueError, match="'Nobody' is not in the CelebA-format identity list"):
        es.target_index("Nobody")


def test_object_classes_are_wnids_even_when_two_share_a_name(tiny_world, tmp_path, tiny_clip):
    import shutil

    from PIL import Image

    root = tmp_path / "imagenet"
    wnids = {"n02012849": "crane", "n03126707": "crane", "n01440764": "tench, Tinca tinca"}  # as in the real file
    (root / "val").mkdir(parents=True)
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} {n}\n" for w, n in wnids.items()))
    for i, w in enumerate(wnids):
        (root / "val" / w).mkdir()
        for j in range(2):
            Image.new("RGB", (8, 8), (40 * i, 10 * j, 0)).save(root / "val" / w / f"{j}.JPEG")
    es = load_eval_set({"celeba": str(tiny_world / "celeba"), "imagenet": str(root)}, "all", tiny_clip.preprocess_val)
    assert es.obj_names == ["tench", "crane", "crane"]  # sorted by wnid; the two cranes stay two classes
    assert es.obj_labels.tolist() == [0, 0, 1, 1, 2, 2]
    # a person with a single image has none in the 'test' half: a clear error instead of a NaN forget accuracy
    celeba = tmp_path / "celeba"
    shutil.copytree(tiny_world / "celeba", celeba)
    lst = celeba / "list_identity_celeba.txt"
    lines = lst.read_text().splitlines()
    elon = [ln for ln in lines if ln.endswith("Elon_Musk")]
    lst.write_text("\n".join([ln for ln in lines if not ln.endswith("Elon_Musk")] + elon[:1]) + "\n")
    test = load_eval_set({"celeba": str(celeba), "imagenet": str(root)}, "test", tiny_clip.preprocess_val)
    assert not test.has_images("Elon Musk") and test.has_images("Jeff Bezos")
    with pytest.raises(ValueError, match="'Elon Musk' has no image in this split.*at least 2"):
        test.target_index("Elon Musk")


def test_image_caps_leave_the_concepts_own_images_alone(tiny_world, tiny_clip):
    full = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val)
    capped = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val,
                           max_per_identity=1, max_per_class=1, keep=["Elon Musk"])
    elon = capped.target_index("Elon Musk")
    counts = torch.bincount(capped.id_labels, minlength=len(capped.id_names))
    assert counts[elon] == (full.id_labels == elon).sum() == 2  # all of the concept's search-split images
    assert all(int(c) == 1 for i, c in enumerate(counts) if i != elon)
    assert torch.bincount(capped.obj_labels).tolist() == [1] * len(capped.obj_names)
    # the same images, in the same order
    assert torch.equal(capped.id_images[capped.id_labels == elon].to("cpu"),
                       full.id_images[full.id_labels == elon].to("cpu"))
    # an object concept keeps all of its images too
    obj = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val, max_per_class=1,
                        keep=["Umbrella"])
    umbrella = obj.obj_names.index("umbrella")
    n = torch.bincount(obj.obj_labels, minlength=len(obj.obj_names))
    assert n[umbrella] == (full.obj_labels == umbrella).sum() == 2 and all(int(c) == 1 for i, c in enumerate(n)
                                                                           if i != umbrella)
