"""The characters and styles tasks on a real world and a real (tiny) open_clip model: loading per kind, the
cached evaluator equal to the uncached one for a character and a style target, and the cosine matrix of a
joint set of mixed kinds."""
import numpy as np
import pytest
import torch

from slug.clip.evaluation import CachedEvaluator, cosine_matrix, load_eval_set
from slug.world import WorldSpec, world_eval_dirs, write_world


@pytest.fixture(scope="module")
def kinds_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("kinds_world")
    write_world(WorldSpec(seed=3, n_identities=6, n_pairs=40, celeba_per_identity=4, imagenet_per_class=4,
                          nonmember_pairs=10, image_size=32, min_trait_distance=3, n_characters=4,
                          character_fraction=0.2, characters_per_character=4, n_styles=3, style_fraction=0.3,
                          canvas_objects=2, canvas_per_object=4), out)
    return out


def test_each_kind_loads_its_own_split_and_caps(kinds_world, tiny_clip):
    es = load_eval_set(world_eval_dirs(kinds_world), "search", tiny_clip.preprocess_val)
    assert es.char_names == ["Iron Man", "Maxie Mouse", "Mickey Mouse", "Steel Sentinel"]
    assert es.style_names == ["Pop Art", "Ukiyoe", "Van Gogh"]
    assert len(es.char_labels) == 4 * 2 and len(es.style_labels) == 3 * 2 * 4 // 2  # half of each class
    assert torch.bincount(es.style_labels).tolist() == [4, 4, 4]
    capped = load_eval_set(world_eval_dirs(kinds_world), "search", tiny_clip.preprocess_val, max_per_identity=1,
                           max_per_class=1, keep=["Mickey Mouse"])
    assert torch.bincount(capped.char_labels).tolist() == [1, 1, 2, 1]  # the concept keeps all its images
    assert torch.bincount(capped.style_labels).tolist() == [1, 1, 1]
    plain = load_eval_set({**world_eval_dirs(kinds_world), "characters": None, "canvas": None}, "search",
                          tiny_clip.preprocess_val)
    assert plain.char_names is None and plain.style_names is None


@pytest.mark.parametrize("name, kind, task", [("Mickey Mouse", "character", "characters"), ("Van Gogh", "style", "styles")])
def test_cached_evaluation_equals_uncached_for_a_character_or_style_target(kinds_world, tiny_clip, name, kind, task):
    es = load_eval_set(world_eval_dirs(kinds_world), "search", tiny_clip.preprocess_val)
    t, idx = es.target(name, kind)
    assert t == task
    ev = CachedEvaluator(tiny_clip.model, tiny_clip.tokenizer, es, idx, batch_size=5, target_task=t)
    assert set(ev.spec.retain) == {"retain_id_top1", "objects_top1", "characters_top1", "styles_top1"}
    params = dict(tiny_clip.model.named_parameters())
    torch.manual_seed(0)
    for layer in ("visual.transformer.resblocks.0.mlp.c_fc.weight", "transformer.resblocks.1.attn.out_proj.weight"):
        delta = 0.5 * torch.randn_like(params[layer]) * params[layer].detach().std()
        cached, forget_only = ev.evaluate({layer: delta}), ev.evaluate({layer: delta}, forget_only=True)
        with torch.no_grad():
            saved = params[layer].detach().clone()
            params[layer].add_(delta)
            uncached = ev.evaluate_uncached()
            params[layer].copy_(saved)
        assert set(cached) == set(uncached) and {"characters_top1", "styles_top5"} <= set(cached)
        for k in cached:
            assert cached[k] == pytest.approx(uncached[k], abs=1e-5), (layer, k)
        assert forget_only["forget_top1"] == pytest.approx(cached["forget_top1"], abs=1e-6)


def test_a_cosine_matrix_over_a_mixed_kind_set_uses_each_concepts_own_images_and_prompts(kinds_world, tiny_clip):
    es = load_eval_set(world_eval_dirs(kinds_world), "test", tiny_clip.preprocess_val)
    names, kinds = ["Elon Musk", "Mickey Mouse", "Van Gogh"], ["person", "character", "style"]
    mixed = cosine_matrix(tiny_clip.model, tiny_clip.tokenizer, es, names, kinds)
    assert mixed.shape == (3, 3) and np.isfinite(mixed).all()
    alone = cosine_matrix(tiny_clip.model, tiny_clip.tokenizer, es, ["Van Gogh", "Pop Art"], "style")
    assert mixed[2, 2] == pytest.approx(alone[0, 0], abs=1e-5)  # the same images and prompts, whatever the set
    with pytest.raises(ValueError, match="style 'Cubism' is not a class"):
        cosine_matrix(tiny_clip.model, tiny_clip.tokenizer, es, ["Cubism"], "style")
