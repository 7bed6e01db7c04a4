"""open_clip vision tower <-> Hugging Face ``CLIPVisionModel``: names, conversion, edits.

A LLaVA (``transformers.LlavaForConditionalGeneration``) sees images through a Hugging Face
``CLIPVisionModel`` (LLaVA-1.5: OpenAI CLIP ViT-L/14-336). SLUG's gradients, layer ranking and step
search run on the open_clip model (``ViT-L-14-336-quickgelu`` with the ``openai`` weights: OpenAI's towers
use QuickGELU), so an edit is a dict of open_clip ``visual.*`` names -> deltas. This module is the one code
path that carries such an edit into a VLM's tower, as :mod:`slug.clip.hf` does for Stable Diffusion's text encoder:

- :func:`hf_vision_names` maps one open_clip vision name to the HF name(s) it becomes
  (``visual.transformer.resblocks.{i}.attn.in_proj_weight`` ->
  ``encoder.layers.{i}.self_attn.{q,k,v}_proj.weight``, split in that order; names relative to the
  ``CLIPVisionModel``, whose transformers >= 5 state has no ``vision_model.`` prefix);
- :func:`to_hf_vision_state` / :func:`from_hf_vision_state` convert a tower or a delta and back;
- :func:`vision_config` / :func:`convert_vision_tower` build the equivalent ``CLIPVisionModel``;
- :func:`layers_read` is the number of encoder layers whose output a VLM reads: LLaVA takes the
  hidden state of ``vision_feature_layer`` (-2, the penultimate layer), so the last layer,
  ``post_layernorm`` and the projection never reach its language model;
- :func:`check_vision_edit` refuses an edit the VLM would never see, naming the fix, and
  :func:`apply_vision_edit` adds a checked edit to a tower in its own dtype.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import torch

from slug.clip.hf import _BLOCK_PARTS, blocks_from_hf

_BLOCK = re.compile(r"^visual\.transformer\.resblocks\.(\d+)\.(.+)$")
_TOP = {
    "visual.class_embedding": "embeddings.class_embedding",
    "visual.conv1.weight": "embeddings.patch_embedding.weight",
    "visual.positional_embedding": "embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "pre_layrnorm.weight",  # sic: transformers' spelling
    "visual.ln_pre.bias": "pre_layrnorm.bias",
    "visual.ln_post.weight": "post_layernorm.weight",
    "visual.ln_post.bias": "post_layernorm.bias",
}
#: Vision tensors with no counterpart in a ``CLIPVisionModel`` (the projection lives in ``CLIPVisionModelWithProjection``;
#: LLaVA never runs it).
NOT_IN_VISION_MODEL = ("visual.proj",)


class VisionEditNotApplicable(ValueError):
    """An edit touches a tensor the VLM's language model never sees."""


def is_vision_tower(name: str) -> bool:
    return name.startswith("visual.")


def hf_vision_names(name: str) -> list[str]:
    """The ``CLIPVisionModel`` name(s) of an open_clip vision parameter (KeyError if none)."""
    if name in _TOP:
        return [_TOP[name]]
    m = _BLOCK.match(name)
    if m and m.group(2) in _BLOCK_PARTS:
        return [f"encoder.layers.{m.group(1)}.{p}" for p in _BLOCK_PARTS[m.group(2)]]
    raise KeyError(name)


def vision_layer_index(name: str) -> int | None:
    """The transformer block of an open_clip vision name (None for the embeddings, the norms, the projection)."""
    m = _BLOCK.match(name)
    return int(m.group(1)) if m else None


def to_hf_vision_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and split q/k/v of) open_clip vision tensors; text tensors and the projection are skipped.
    An open_clip vision tensor this module cannot map (layer scale, an attention pool) raises."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if not is_vision_tower(name) or name in NOT_IN_VISION_MODEL:
            continue
        try:
            targets = hf_vision_names(name)
        except KeyError:
            raise KeyError(f"open_clip vision tensor {name!r} has no Hugging Face CLIPVisionModel counterpart (only "
                           "standard CLIP ViTs convert: no layer scale, no attentional pooler, no extra norms)") from None
        if name == "visual.conv1.weight" and t.dim() != 4:
            raise KeyError(f"{name}: expected a conv patch embedding, got shape {tuple(t.shape)}")
        parts = t.chunk(3, dim=0) if len(targets) == 3 else (t,)
        for hf, part in zip(targets, parts):
            out[hf] = part.contiguous()
    return out


def from_hf_vision_state(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`to_hf_vision_state` (q/k/v re-joined into ``in_proj``); accepts the
    ``vision_model.`` prefix of transformers < 5 checkpoints and LLaVA's ``vision_tower.`` prefix."""
    return blocks_from_hf(hf_state, {hf: oc for oc, hf in _TOP.items()},
                          r"^(?:model\.)?(?:vision_tower\.)?(?:vision_model\.)?", "visual.transformer.resblocks.{}.{}",
                          "vision")


def vision_config(model: torch.nn.Module, **overrides):
    """A ``CLIPVisionConfig`` equal to the open_clip model's vision tower (a standard ViT: class token,
    learned positions, pre-norm blocks, GELU or QuickGELU)."""
    from transformers import CLIPVisionConfig

    v = model.visual
    for attr, bad in (("attn_pool", lambda x: x is not None), ("final_ln_after_pool", bool)):
        if bad(getattr(v, attr, None)):
            raise ValueError(f"this open_clip vision tower has {attr}; CLIPVisionModel has no equivalent")
    block = v.transformer.resblocks[0]
    if not isinstance(getattr(block, "ls_1", torch.nn.Identity()), torch.nn.Identity):
        raise ValueError("this open_clip vision tower has layer scale; CLIPVisionModel has no equivalent")
    act = getattr(block.mlp, "gelu", None)
    quick = type(act).__name__ == "QuickGELU"
    if not quick and not isinstance(act, torch.nn.GELU):
        raise ValueError(f"vision MLP activation {type(act).__name__} has no CLIPVisionConfig equivalent")
    size = v.image_size if isinstance(v.image_size, int) else v.image_size[0]
    patch = v.patch_size if isinstance(v.patch_size, int) else v.patch_size[0]
    kw = dict(
        hidden_size=v.conv1.weight.shape[0], intermediate_size=block.mlp.c_fc.weight.shape[0],
        num_hidden_layers=len(v.transformer.resblocks), num_attention_heads=block.attn.num_heads,
        image_size=size, patch_size=patch, num_channels=v.conv1.weight.shape[1],
        hidden_act="quick_gelu" if quick else "gelu", layer_norm_eps=v.ln_pre.eps,
        projection_dim=v.proj.shape[1] if isinstance(getattr(v, "proj", None), torch.Tensor) else v.conv1.weight.shape[0],
    )
    kw.update(overrides)
    return CLIPVisionConfig(**kw)


def convert_vision_tower(model: torch.nn.Module):
    """A ``CLIPVisionModel`` with the open_clip model's vision weights (eval mode, float32)."""
    from transformers import CLIPVisionModel

    hf = CLIPVisionModel(vision_config(model)).eval()
    state = to_hf_vision_state({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise KeyError(f"vision tower conversion: missing {missing}, unexpected {unexpected}")
    return hf


def layers_read(num_layers: int, feature_layer: int = -2) -> int:
    """How many encoder layers shape the hidden state a VLM reads (``hidden_states[feature_layer]``:
    index 0 is the embeddings after ``pre_layrnorm``, index k the output of layer k-1)."""
    index = feature_layer if feature_layer >= 0 else num_layers + 1 + feature_layer
    if not 0 <= index <= num_layers:
        raise ValueError(f"vision_feature_layer {feature_layer} is outside a {num_layers}-layer tower")
    return index


def check_vision_edit(edits: dict[str, torch.Tensor], num_layers: int, feature_layer: int = -2) -> None:
    """Refuse an edit whose tensors the VLM never sees (raise :class:`VisionEditNotApplicable` with the fix)."""
    n = layers_read(num_layers, feature_layer)
    for name in edits:
        if not is_vision_tower(name):
            raise VisionEditNotApplicable(
                f"{name} is not a vision-tower tensor: a VLM edit must be one of the CLIP vision tower's layers "
                "(set search.towers to [vision] for the VLM, or rank the vision tower's layers)")
        i = vision_layer_index(name)
        if name in NOT_IN_VISION_MODEL or name.startswith("visual.ln_post") or (i is not None and i >= n):
            raise VisionEditNotApplicable(
                f"{name} does not reach the language model: it reads vision_feature_layer={feature_layer}, the output "
                f"of vision layers 0..{n - 1} of {num_layers} (the last layers, ln_post and proj are never run for it); "
                f"choose a layer in visual.transformer.resblocks.0..{n - 1} (vlm.max_vision_layer)")
        hf_vision_names(name)  # KeyError for a tensor with no counterpart


def _tower_params(tower: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The tower's parameters by ``CLIPVisionModel`` names, whatever its prefix (``vision_model.`` in
    transformers < 5)."""
    return {re.sub(r"^vision_model\.", "", k): p for k, p in tower.named_parameters()}


@torch.no_grad()
def apply_vision_edit(tower: torch.nn.Module, edits: dict[str, torch.Tensor], feature_layer: int = -2,
                      sign: float = 1.0) -> None:
    """``theta += sign * delta`` for each edited tensor of a ``CLIPVisionModel`` (in its dtype and device),
    after :func:`check_vision_edit`."""
    check_vision_edit(edits, tower.config.num_hidden_layers, feature_layer)
    params = _tower_params(tower)
    for hf, d in to_hf_vision_state(edits).items():
        p = params[hf]
        if p.shape != d.shape:
            raise ValueError(f"edit of {hf}: shape {tuple(d.shape)} != the tower's {tuple(p.shape)}")
        p.add_(d.to(device=p.device, dtype=torch.float32).mul(sign).to(p.dtype))


@contextmanager
def edited(tower: torch.nn.Module, edits: dict[str, torch.Tensor], feature_layer: int = -2) -> Iterator[None]:
    """The tower with the edit applied inside the block, restored exactly afterwards (saved copies)."""
    check_vision_edit(edits, tower.config.num_hidden_layers, feature_layer)
    params = _tower_params(tower)
    names = list(to_hf_vision_state(edits))
    saved = {n: params[n].detach().clone() for n in names}
    try:
        apply_vision_edit(tower, edits, feature_layer)
        yield
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                params[n].copy_(t)


def max_vision_difference(model: torch.nn.Module, tower: torch.nn.Module, names: list[str]) -> float:
    """The largest |difference| between the open_clip model's vision tensors ``names`` and the tower's."""
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items() if k in names}
    params = _tower_params(tower)
    return max((float((params[hf].detach().float().cpu() - t).abs().max()) for hf, t in to_hf_vision_state(state).items()),
               default=0.0)


def check_same_vision_tower(model: torch.nn.Module, tower: torch.nn.Module, names: list[str], dtype: str,
                            model_name: str) -> None:
    """Refuse a VLM whose tower is not the gradient model's vision tower on ``names`` (tolerance 1e-2 for a
    float16 tower, else 1e-5): the edit must be computed on the VLM's own CLIP."""
    act = vision_config(model).hidden_act
    if act != tower.config.hidden_act:
        raise SystemExit(f"the VLM's vision tower uses {tower.config.hidden_act}, the gradient model {model_name} uses "
                         f"{act}: the gradients would be those of another network (for OpenAI weights use an open_clip "
                         "'-quickgelu' architecture, e.g. ViT-L-14-336-quickgelu)")
    diff = max_vision_difference(model, tower, names)
    if diff > (1e-2 if dtype in ("float16", "bfloat16") else 1e-5):
        raise SystemExit(f"the VLM's vision tower differs from the gradient model {model_name} on {names} (max |diff| "
                         f"{diff:.3g}): the SLUG edit must be computed on the VLM's own CLIP (LLaVA-1.5: model.arch "
                         "ViT-L-14-336-quickgelu, model.pretrained openai)")


def vlm_candidates(layers_df, max_layers: int, n_read: int) -> list[str]:
    """Vision-tower layers the VLM reads, on their own Pareto front (importance, alignment), most important
    first; ``max_layers`` at most."""
    from slug.core.ranking import front_layers

    df = layers_df[(layers_df.tower == "vision") & ~layers_df.layer.isin(NOT_IN_VISION_MODEL)
                   & ~layers_df.layer.str.startswith("visual.ln_post")].copy()
    df = df[[(vision_layer_index(n) is None or vision_layer_index(n) < n_read) for n in df.layer]]
    if df.empty:
        raise ValueError("no vision-tower layer the VLM reads is among the ranked layers: rank the vision tower "
                         "(search.towers must include vision)")
    return front_layers(df, max_layers)
