"""Evaluation: membership inference, cached vs uncached metrics."""
import numpy as np
import pytest
import torch

from slug.evaluation import CachedEvaluator, load_eval_set, mia_score


def test_mia_is_chance_on_identical_distributions_and_perfect_on_separable_ones():
    rng = np.random.default_rng(0)
    same_mean, _ = mia_score(rng.normal(0, 1, 400), rng.normal(0, 1, 400))
    assert 40 <= same_mean <= 60
    sep_mean, sep_std = mia_score(rng.normal(5, 0.5, 200), rng.normal(-5, 0.5, 300))
    assert sep_mean > 99 and sep_std < 1


def test_cached_evaluation_equals_uncached_for_text_and_vision_edits(tiny_clip, tiny_world):
    es = load_eval_set(str(tiny_world / "celeba"), str(tiny_world / "imagenet"), "search", tiny_clip.preprocess_val)
    assert len(es.id_labels) == 8 * 2  # the 'search' half of 4 images per identity
    target = es.target_index("Elon Musk")
    ev = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, target)
    params = dict(tiny_clip.model.named_parameters())
    torch.manual_seed(0)
    for layer in ("transformer.resblocks.0.attn.out_proj.weight", "visual.transformer.resblocks.1.mlp.c_fc.weight"):
        delta = 0.5 * torch.randn_like(params[layer]) * params[layer].detach().std()
        cached = ev.evaluate({layer: delta})
        with torch.no_grad():
            params[layer].add_(delta)
            uncached = ev.evaluate_uncached()
            params[layer].sub_(delta)
        for k in cached:
            assert cached[k] == pytest.approx(uncached[k], abs=1e-5), (layer, k)
    # the model is restored exactly
    assert ev.evaluate({}) == ev.baseline()


def test_unknown_identity_is_named(tiny_clip, tiny_world):
    es = load_eval_set(str(tiny_world / "celeba"), str(tiny_world / "imagenet"), "test", tiny_clip.preprocess_val)
    with pytest.raises(ValueError, match="'Nobody' is not in the CelebA-format identity list"):
        es.target_index("Nobody")
