"""Forget and retain gradients on a real (tiny) open_clip model."""
import pytest
import torch
import torch.nn.functional as F

from slug.core.gradients import candidate_names, forget_gradient, retain_gradient, tower_of


@pytest.fixture
def batch(tiny_clip):
    torch.manual_seed(1)
    images = torch.randn(7, 3, 32, 32)
    tokens = tiny_clip.tokenizer([f"a photo of person {i}" for i in range(7)])
    return images, tokens


def test_candidates_follow_the_reference_filter(tiny_clip):
    names = candidate_names(tiny_clip.model, include_layernorm=True)
    assert "visual.proj" in names and "text_projection" in names
    assert "visual.transformer.resblocks.1.attn.out_proj.weight" in names
    assert "transformer.resblocks.0.mlp.c_fc.weight" in names and "visual.ln_post.weight" in names
    assert not any(("bias" in n) or ("embedding" in n) or (n == "logit_scale") for n in names)
    no_ln = candidate_names(tiny_clip.model, include_layernorm=False)
    assert "visual.ln_post.weight" not in no_ln and "ln_final.weight" not in no_ln
    assert {tower_of(n) for n in names} == {"vision", "text"}


def test_forget_gradient_matches_finite_differences(tiny_clip, batch):
    model = tiny_clip.model.double()
    images, tokens = batch[0].double(), batch[1]
    names = ["visual.transformer.resblocks.1.attn.out_proj.weight", "transformer.resblocks.0.mlp.c_fc.weight",
             "text_projection"]
    g = forget_gradient(model, images, tokens, names, batch_size=3, progress=False)

    def mean_cos():
        with torch.no_grad():
            i, t = model(images, tokens)[:2]
            return F.cosine_similarity(i, t, dim=-1).mean().item()

    params = dict(model.named_parameters())
    torch.manual_seed(2)
    for n in names:
        d = torch.randn_like(params[n])
        eps = 1e-5
        with torch.no_grad():
            params[n].add_(eps * d)
            up = mean_cos()
            params[n].sub_(2 * eps * d)
            down = mean_cos()
            params[n].add_(eps * d)
        fd = (up - down) / (2 * eps)
        analytic = float((g[n].double() * d).sum())
        assert analytic == pytest.approx(fd, rel=1e-4, abs=1e-7), n


def test_forget_gradient_is_exact_whatever_the_batch_size(tiny_clip, batch):
    names = candidate_names(tiny_clip.model)
    a = forget_gradient(tiny_clip.model, *batch, names, batch_size=2, progress=False)
    b = forget_gradient(tiny_clip.model, *batch, names, batch_size=7, progress=False)
    for n in names:
        torch.testing.assert_close(a[n], b[n], atol=1e-6, rtol=1e-4)
    # and the model is left as it was: no grads, the same requires_grad flags
    assert all(p.grad is None and p.requires_grad for p in tiny_clip.model.parameters())


def test_retain_gradient_is_the_batch_size_weighted_mean_of_contrastive_losses(tiny_clip, batch):
    from open_clip.loss import ClipLoss

    images, tokens = batch
    names = ["visual.proj", "transformer.resblocks.1.attn.in_proj_weight"]
    g = retain_gradient(tiny_clip.model, images, tokens, names, batch_size=4, progress=False)
    params = dict(tiny_clip.model.named_parameters())
    expected = {n: torch.zeros_like(params[n]) for n in names}
    for lo, hi in ((0, 4), (4, 7)):
        tiny_clip.model.zero_grad()
        out = tiny_clip.model(images[lo:hi], tokens[lo:hi])
        ClipLoss()(*out[:3]).backward()
        for n in names:
            expected[n] += params[n].grad * (hi - lo) / 7
    tiny_clip.model.zero_grad()
    for n in names:
        torch.testing.assert_close(g[n], expected[n], atol=1e-6, rtol=1e-4)
        assert g[n].abs().sum() > 0


def test_a_siglip_style_model_gets_its_own_sigmoid_loss_for_the_retain_gradient(tiny_clip, batch):
    # A model with a logit bias was pretrained with the pairwise sigmoid loss: its retain gradient (and
    # the baselines' retain passes) must use that loss, not CLIP's softmax over the batch.
    import open_clip
    from open_clip.loss import ClipLoss, SigLipLoss

    from slug.baselines import retain_loss

    torch.manual_seed(0)
    model = open_clip.create_model("SLUG-Tiny-ViT", init_logit_bias=-10.0)
    images, tokens = batch
    names = ["visual.proj", "text_projection"]
    g = retain_gradient(model, images, tokens, names, batch_size=7, progress=False)
    params = dict(model.named_parameters())

    def grads_of(loss_fn):
        model.zero_grad()
        loss_fn(*model(images, tokens)).backward()
        out = {n: params[n].grad.clone() for n in names}
        model.zero_grad()
        return out

    sigmoid = grads_of(lambda i, t, s, b: SigLipLoss()(i, t, s, b))
    softmax = grads_of(lambda i, t, s, b: ClipLoss()(i, t, s))
    for n in names:
        torch.testing.assert_close(g[n], sigmoid[n], atol=1e-6, rtol=1e-4)
        assert not torch.allclose(g[n], softmax[n], atol=1e-4)
    assert "logit_bias" not in candidate_names(model)  # never edited: excluded like every bias
    with torch.no_grad():
        torch.testing.assert_close(retain_loss(model, images, tokens), SigLipLoss()(*model(images, tokens)))
        # a plain CLIP keeps ClipLoss
        torch.testing.assert_close(retain_loss(tiny_clip.model, images, tokens),
                                   ClipLoss()(*tiny_clip.model(images, tokens)[:3]))


def test_empty_forget_set_is_refused(tiny_clip):
    with pytest.raises(ValueError, match="forget set is empty"):
        forget_gradient(tiny_clip.model, torch.zeros(0, 3, 32, 32), torch.zeros(0, 32, dtype=torch.long), ["visual.proj"])


def test_low_precision_weights_accumulate_each_batch_in_fp32(tiny_clip, batch):
    model = tiny_clip.model.to(torch.bfloat16)
    images, tokens = batch[0].to(torch.bfloat16), batch[1]
    names = ["visual.proj", "transformer.resblocks.0.mlp.c_fc.weight"]
    g = forget_gradient(model, images, tokens, names, batch_size=4, progress=False)
    params = dict(model.named_parameters())
    expected = {n: torch.zeros(params[n].shape) for n in names}
    for lo, hi in ((0, 4), (4, 7)):  # each batch's bf16 gradient, summed in fp32
        model.zero_grad()
        i, t = model(images[lo:hi], tokens[lo:hi])[:2]
        (F.cosine_similarity(i, t, dim=-1).mean() * ((hi - lo) / 7)).backward()
        for n in names:
            expected[n] += params[n].grad.float()
    model.zero_grad(set_to_none=True)
    for n in names:
        assert g[n].dtype == torch.float32
        scale = float(expected[n].abs().max()) * torch.finfo(torch.bfloat16).eps  # bf16 rounding of the grads
        torch.testing.assert_close(g[n], expected[n], atol=2 * scale, rtol=0)
