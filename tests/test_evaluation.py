"""Evaluation: membership inference, cached vs uncached metrics."""
import numpy as np
import pytest
import torch

from slug.evaluation import CachedEvaluator, load_eval_set, mia_score
from slug.gradients import candidate_names


def test_mia_is_chance_on_identical_distributions_and_perfect_on_separable_ones():
    rng = np.random.default_rng(0)
    same_mean, _ = mia_score(rng.normal(0, 1, 400), rng.normal(0, 1, 400))
    assert 40 <= same_mean <= 60
    sep_mean, sep_std = mia_score(rng.normal(5, 0.5, 200), rng.normal(-5, 0.5, 300))
    assert sep_mean > 99 and sep_std < 1


def test_cached_evaluation_equals_uncached_for_every_editable_tensor(tiny_clip, tiny_world):
    es = load_eval_set(str(tiny_world / "celeba"), str(tiny_world / "imagenet"), "search", tiny_clip.preprocess_val)
    assert len(es.id_labels) == 8 * 2  # the 'search' half of 4 images per identity
    target = es.target_index("Elon Musk")
    ev = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, target, batch_size=5)  # several chunks
    assert set(ev._staged) == {"vision", "text"}  # open_clip's CLIP runs the partial forward
    params = dict(tiny_clip.model.named_parameters())
    # every candidate tensor (each block half, ln_post/ln_final, both projections, conv1) and the embeddings
    names = candidate_names(tiny_clip.model) + ["visual.class_embedding", "visual.positional_embedding",
                                                "token_embedding.weight", "visual.transformer.resblocks.1.attn.in_proj_bias"]
    torch.manual_seed(0)
    for layer in names:
        delta = 0.5 * torch.randn_like(params[layer]) * params[layer].detach().std().clamp_min(0.1)
        tower = "vision" if layer.startswith("visual.") else "text"
        stage = ev._staged[tower].stage_of(layer)
        cached = ev.evaluate({layer: delta})
        assert ev._cache.get(tower, (0,))[0] == stage  # one depth per tower: the layer being searched
        forget_only = ev.evaluate({layer: delta}, forget_only=True)  # the target's images and names alone
        assert set(forget_only) == {"forget_top1", "forget_top5"}
        assert all(forget_only[k] == pytest.approx(cached[k], abs=1e-6) for k in forget_only), layer
        acts = ev._entering(tower, stage)  # the unedited activations entering the edited stage
        with torch.no_grad():
            params[layer].add_(delta)
            uncached = ev.evaluate_uncached()
            partial = ev._finish(tower, stage, acts, ("id", "obj"))
            full = ev._images() if tower == "vision" else ev._classifiers()
            params[layer].sub_(delta)
        for k in cached:
            assert cached[k] == pytest.approx(uncached[k], abs=1e-5), (layer, k)
        for got, ref in zip(partial, full):
            torch.testing.assert_close(got, ref, atol=1e-5, rtol=0), layer
    # the model is restored exactly
    assert ev.evaluate({}) == ev.baseline()


def test_partial_forward_can_be_turned_off_and_gives_the_same_metrics(tiny_clip, tiny_world):
    es = load_eval_set(str(tiny_world / "celeba"), str(tiny_world / "imagenet"), "search", tiny_clip.preprocess_val)
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
    es = load_eval_set(str(tiny_world / "celeba"), str(tiny_world / "imagenet"), "test", tiny_clip.preprocess_val)
    with pytest.raises(ValueError, match="'Nobody' is not in the CelebA-format identity list"):
        es.target_index("Nobody")
