"""Pretraining the demo CLIP: the loss falls and the checkpoint reloads through open_clip."""
import open_clip
import torch

from slug.data import load_pairs
from slug.clip.models import load_clip, register_configs, save_state_dict
from slug.clip.pretrain import PretrainConfig, pretrain_clip


def test_tiny_pretraining_lowers_loss_and_checkpoint_reloads_identically(tiny_world, tiny_clip, tmp_path):
    images, tokens, _ = load_pairs([tiny_world / "nonmember" / "00000.tar"], tiny_clip.preprocess_val, tiny_clip.tokenizer)
    res = pretrain_clip(tiny_clip.model, images, tokens,
                        PretrainConfig(epochs=30, batch_size=10, lr=3e-3, warmup_steps=5), progress=False)
    first = sum(res.losses[:3]) / 3
    last = sum(res.losses[-3:]) / 3
    assert res.steps == 60 and last < 0.7 * first

    path = tmp_path / "ckpt.pt"
    save_state_dict(tiny_clip.model, path)
    register_configs()
    model, _, _ = open_clip.create_model_and_transforms("SLUG-Tiny-ViT", pretrained=str(path))
    trained, opened = tiny_clip.model.state_dict(), model.state_dict()
    assert list(trained) == list(opened)
    for n in trained:
        assert torch.equal(trained[n], opened[n]), n
    reloaded = load_clip("SLUG-Tiny-ViT", str(path)).model.state_dict()
    assert list(reloaded) == list(opened) and all(torch.equal(reloaded[n], opened[n]) for n in opened)


def test_pretraining_is_deterministic_for_a_seed(tiny_world):
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        bundle = load_clip("SLUG-Tiny-ViT")
        images, tokens, _ = load_pairs([tiny_world / "nonmember" / "00000.tar"], bundle.preprocess_val, bundle.tokenizer)
        pretrain_clip(bundle.model, images, tokens, PretrainConfig(epochs=2, batch_size=10, seed=7), progress=False)
        states.append(bundle.model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_load_weights_reads_a_local_checkpoint_without_building_the_model(tiny_clip, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "ckpt.pt"
    save_state_dict(tiny_clip.model, path)
    expected = tiny_clip.model.state_dict()
    code = ("import sys, torch; from slug.clip.models import load_weights; "
            f"w = load_weights('SLUG-Tiny-ViT', {str(path)!r}); "
            f"torch.save(w, {str(tmp_path / 'w.pt')!r}); print('open_clip' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"  # the rules that only need tensors skip open_clip's imports
    weights = torch.load(tmp_path / "w.pt", weights_only=True)
    assert list(weights) == list(expected) and all(torch.equal(weights[k], expected[k]) for k in expected)
    from slug.clip.models import load_weights

    untrained = load_weights("SLUG-Tiny-ViT", None)  # no file: built through open_clip
    assert set(untrained) == set(expected)
