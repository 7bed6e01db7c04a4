"""Zero-shot classification with CLIP: text classifiers, image features, top-k accuracy."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

#: The reference's 7 ImageNet templates (SIMPLE_IMAGENET_TEMPLATES in open_clip).
OBJECT_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
)
#: The reference's single identity template (CelebA names with spaces).
IDENTITY_TEMPLATES: tuple[str, ...] = ("{}.",)
#: Characters are named like people ("{}."), and as cartoons.
CHARACTER_TEMPLATES: tuple[str, ...] = ("{}.", "a cartoon of {}.")
#: Styles in the phrases captions use for them.
STYLE_TEMPLATES: tuple[str, ...] = ("a painting in {} style.", "an image in the style of {}.", "{} art.")


def _encode(model: torch.nn.Module, encode: Callable, x, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([F.normalize(encode(x[i:i + batch_size].to(device)), dim=-1).cpu()
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def encode_images(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """L2-normalised image features [N, D], ``batch_size`` images at a time."""
    return _encode(model, model.encode_image, images, batch_size)


@torch.no_grad()
def encode_texts(model: torch.nn.Module, tokens: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """L2-normalised text features [N, D]."""
    return _encode(model, model.encode_text, tokens, batch_size)


def classifier_tokens(tokenizer: Callable, classnames: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """Tokens [C*T, L], class-major (class c uses rows c*T .. c*T+T-1)."""
    return tokenizer([t.format(c) for c in classnames for t in templates])


@torch.no_grad()
def build_classifier(model: torch.nn.Module, tokens: torch.Tensor, n_templates: int) -> torch.Tensor:
    """Class embeddings [C, D]: mean of the normalised template embeddings, renormalised."""
    emb = encode_texts(model, tokens)
    emb = emb.view(-1, n_templates, emb.shape[-1]).mean(1)
    return F.normalize(emb, dim=-1)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean [N]: is the label among the top-k logits."""
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1)
