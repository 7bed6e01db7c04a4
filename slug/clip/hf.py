"""open_clip text tower <-> Hugging Face ``CLIPTextModel``: names, conversion, edits, tokenizer.

Stable Diffusion conditions its UNet on a Hugging Face ``CLIPTextModel`` (SD 1.5: OpenAI CLIP
ViT-L/14; SD 2.1: OpenCLIP ViT-H/14 cut at the penultimate layer). SLUG's gradients, layer ranking
and step search run on the open_clip model, so an edit is a dict of open_clip parameter names ->
deltas. This module is the one code path that carries such an edit into a text encoder:

- :func:`hf_names` maps one open_clip text-tower name to the HF name(s) it becomes
  (``attn.in_proj_weight`` -> ``encoder.layers.{i}.self_attn.{q,k,v}_proj.weight``, split in that
  order; transformers >= 5 names without the ``text_model.`` prefix of the checkpoint files);
- :func:`to_hf_state` converts a text tower (or a delta dict) to HF names, :func:`from_hf_state`
  goes back (a round trip is the identity);
- :func:`text_config` / :func:`convert_text_tower` build the equivalent ``CLIPTextModel``;
- :func:`apply_text_edit` adds an edit to a pipeline's ``text_encoder`` after checking that every
  edited tensor is one the encoder really runs (an edit of layer 23 of ViT-H/14 cannot reach
  SD 2.1, whose encoder stops at layer 22; a vision-tower or ``text_projection`` edit never reaches
  any SD pipeline): such edits are refused, never dropped silently;
- :func:`clip_tokenizer` builds the 49,408-token CLIP BPE tokenizer offline from open_clip's vocab.
"""

from __future__ import annotations

import gzip
import re
from typing import Any

import torch

_BLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")
_BLOCK_PARTS = {
    "ln_1.weight": ["layer_norm1.weight"], "ln_1.bias": ["layer_norm1.bias"],
    "ln_2.weight": ["layer_norm2.weight"], "ln_2.bias": ["layer_norm2.bias"],
    "attn.in_proj_weight": ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"],
    "attn.in_proj_bias": ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"],
    "attn.out_proj.weight": ["self_attn.out_proj.weight"], "attn.out_proj.bias": ["self_attn.out_proj.bias"],
    "mlp.c_fc.weight": ["mlp.fc1.weight"], "mlp.c_fc.bias": ["mlp.fc1.bias"],
    "mlp.c_proj.weight": ["mlp.fc2.weight"], "mlp.c_proj.bias": ["mlp.fc2.bias"],
}
_TOP = {
    "token_embedding.weight": "embeddings.token_embedding.weight",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_final.weight": "final_layer_norm.weight",
    "ln_final.bias": "final_layer_norm.bias",
}
#: Text-tower tensors with no counterpart in a ``CLIPTextModel`` (SD never runs them).
NOT_IN_TEXT_ENCODER = ("text_projection", "logit_scale", "logit_bias")


class EditNotApplicable(ValueError):
    """An edit touches a tensor the target text encoder does not run."""


def is_text_tower(name: str) -> bool:
    return not name.startswith("visual.") and name not in ("logit_scale", "logit_bias")


def hf_names(name: str) -> list[str]:
    """The HF ``CLIPTextModel`` name(s) of an open_clip text-tower parameter (KeyError if none)."""
    if name in _TOP:
        return [_TOP[name]]
    m = _BLOCK.match(name)
    if m and m.group(2) in _BLOCK_PARTS:
        return [f"encoder.layers.{m.group(1)}.{p}" for p in _BLOCK_PARTS[m.group(2)]]
    raise KeyError(name)


def layer_index(name: str) -> int | None:
    """The transformer block of an open_clip text-tower name (None for embeddings / final LN)."""
    m = _BLOCK.match(name)
    return int(m.group(1)) if m else None


def to_hf_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and split q/k/v of) open_clip text-tower tensors; vision tensors are skipped.

    Text tensors without an HF counterpart (``text_projection``) and unknown text names raise:
    an open_clip text tower this module cannot map (e.g. with layer scale) fails loudly.
    """
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if not is_text_tower(name) or name in NOT_IN_TEXT_ENCODER:
            continue
        try:
            targets = hf_names(name)
        except KeyError:
            raise KeyError(f"open_clip text-tower tensor {name!r} has no Hugging Face CLIPTextModel counterpart "
                           "(only standard CLIP text towers convert: no layer scale, no extra norms)") from None
        parts = t.chunk(3, dim=0) if len(targets) == 3 else (t,)
        for hf, part in zip(targets, parts):
            out[hf] = part.contiguous()
    return out


def blocks_from_hf(hf_state: dict[str, torch.Tensor], top: dict[str, str], prefix: str, block: str,
                   what: str) -> dict[str, torch.Tensor]:
    """HF CLIP tensors back to open_clip names (q/k/v re-joined into ``in_proj``), for either tower: ``top``
    maps HF names of the non-block tensors to open_clip's, ``prefix`` is a regex of the HF prefixes to drop,
    ``block`` the open_clip block name (``...resblocks.{}.{}``), ``what`` names the tensors in errors."""
    out: dict[str, Any] = {}
    for hf, t in hf_state.items():
        hf = re.sub(prefix, "", hf)
        if hf in top:
            out[top[hf]] = t
            continue
        m = re.match(r"^encoder\.layers\.(\d+)\.(.+)$", hf)
        part = next(((oc, parts.index(m.group(2)), len(parts)) for oc, parts in _BLOCK_PARTS.items()
                     if m and m.group(2) in parts), None)
        if part is None:
            raise KeyError(f"Hugging Face {what} tensor {hf!r} has no open_clip counterpart")
        oc, i, n = part
        name = block.format(m.group(1), oc)
        if n == 1:
            out[name] = t
        else:
            out.setdefault(name, [None] * n)[i] = t
    for k, v in out.items():
        if isinstance(v, list):
            if any(x is None for x in v):
                raise KeyError(f"{k}: q, k and v are needed to rebuild in_proj")
            out[k] = torch.cat(v, 0)
    return out


def from_hf_state(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`to_hf_state` (q/k/v re-joined into ``in_proj``)."""
    return blocks_from_hf(hf_state, {hf: oc for oc, hf in _TOP.items()}, r"^text_model\.",
                          "transformer.resblocks.{}.{}", "text-encoder")


def text_config(model: torch.nn.Module, **overrides):
    """A ``CLIPTextConfig`` equal to the open_clip model's text tower."""
    from transformers import CLIPTextConfig

    blocks = model.transformer.resblocks
    block = blocks[0]
    act = block.mlp.gelu if hasattr(block.mlp, "gelu") else None
    quick = type(act).__name__ == "QuickGELU"
    if not quick and not isinstance(act, torch.nn.GELU):
        raise ValueError(f"text MLP activation {type(act).__name__} has no CLIPTextConfig equivalent")
    if getattr(model, "attn_mask", None) is None:
        raise ValueError("this open_clip text tower has no causal mask; CLIPTextModel always applies one")
    kw = dict(
        vocab_size=model.token_embedding.weight.shape[0], hidden_size=model.token_embedding.weight.shape[1],
        intermediate_size=block.mlp.c_fc.weight.shape[0], num_hidden_layers=len(blocks),
        num_attention_heads=block.attn.num_heads, max_position_embeddings=model.positional_embedding.shape[0],
        hidden_act="quick_gelu" if quick else "gelu", layer_norm_eps=model.ln_final.eps,
        projection_dim=model.text_projection.shape[1] if isinstance(model.text_projection, torch.Tensor) else 512,
        bos_token_id=49406, eos_token_id=49407, pad_token_id=0,
    )
    kw.update(overrides)
    return CLIPTextConfig(**kw)


def convert_text_tower(model: torch.nn.Module, num_hidden_layers: int | None = None):
    """A ``CLIPTextModel`` with the open_clip model's text weights (optionally cut to its first layers,
    as SD 2.1 cuts ViT-H/14 at the penultimate layer)."""
    from transformers import CLIPTextModel

    cfg = text_config(model, **({"num_hidden_layers": num_hidden_layers} if num_hidden_layers else {}))
    state = to_hf_state({k: v.detach() for k, v in model.state_dict().items()})
    n = cfg.num_hidden_layers
    state = {k: v for k, v in state.items() if not _beyond(k, n)}
    enc = CLIPTextModel(cfg)
    missing, unexpected = enc.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return enc.eval()


def _beyond(hf_name: str, n_layers: int) -> bool:
    m = re.match(r"^(?:text_model\.)?encoder\.layers\.(\d+)\.", hf_name)
    return bool(m) and int(m.group(1)) >= n_layers


def layers_run(text_encoder, clip_skip: int | None = None) -> int:
    """How many transformer blocks of ``text_encoder`` a Stable Diffusion pipeline runs.

    diffusers uses ``hidden_states[-(clip_skip + 1)]`` when ``clip_skip`` is set, i.e. the output
    of block ``num_hidden_layers - clip_skip``; the blocks after it never influence the images.
    """
    n = int(text_encoder.config.num_hidden_layers)
    return n - int(clip_skip or 0)


def check_edit(edits: dict[str, torch.Tensor], text_encoder, clip_skip: int | None = None) -> dict[str, torch.Tensor]:
    """The edit in HF names, after refusing any tensor the pipeline does not run."""
    used = layers_run(text_encoder, clip_skip)
    n = int(text_encoder.config.num_hidden_layers)
    params = dict(text_encoder.named_parameters())
    for name in edits:
        if not is_text_tower(name) or name in NOT_IN_TEXT_ENCODER:
            raise EditNotApplicable(
                f"edit of {name!r}: Stable Diffusion runs only the CLIP text encoder's transformer (not the vision "
                "tower nor text_projection), so this edit cannot change any image; restrict the search to the text "
                "tower (search.towers: [text]) and to layers the pipeline runs")
        i = layer_index(name)
        if i is not None and i >= used:
            raise EditNotApplicable(
                f"edit of {name!r} (text layer {i}): the pipeline's text encoder runs layers 0..{used - 1} only "
                f"(num_hidden_layers={n}{f', clip_skip={clip_skip}' if clip_skip else ''}; SD 2.1 uses the penultimate "
                f"layer of OpenCLIP ViT-H/14), so the edit would never reach the images; pick a layer below {used} "
                "(diffusion.max_text_layer) or search again")
    hf = {_resolve(params, k): v for k, v in to_hf_state(edits).items()}
    for k, v in hf.items():
        if k not in params:
            raise EditNotApplicable(f"edited tensor {k!r} is not a parameter of the pipeline's text encoder")
        if tuple(params[k].shape) != tuple(v.shape):
            raise EditNotApplicable(f"edited tensor {k!r} has shape {tuple(v.shape)}, the text encoder's "
                                    f"{tuple(params[k].shape)}: the gradient model is not this pipeline's text encoder")
    return hf


@torch.no_grad()
def apply_text_edit(pipe_or_encoder, edits: dict[str, torch.Tensor],
                    clip_skip: int | None = None) -> dict[str, torch.Tensor]:
    """Add an open_clip-named edit ``{name: delta}`` to a pipeline's ``text_encoder`` (or an encoder) in place.

    Returns the original tensors (HF names) so that :func:`restore` can undo the edit.
    """
    enc = getattr(pipe_or_encoder, "text_encoder", pipe_or_encoder)
    hf = check_edit(edits, enc, clip_skip)
    params = dict(enc.named_parameters())
    originals = {}
    for k, d in hf.items():
        originals[k] = params[k].detach().clone()
        params[k].add_(d.to(params[k].device, params[k].dtype))
    return originals


@torch.no_grad()
def restore(pipe_or_encoder, originals: dict[str, torch.Tensor]) -> None:
    enc = getattr(pipe_or_encoder, "text_encoder", pipe_or_encoder)
    params = dict(enc.named_parameters())
    for k, v in originals.items():
        params[k].copy_(v)


def _resolve(params: dict, name: str) -> str:
    """transformers >= 5 names ``CLIPTextModel`` tensors ``embeddings.*``; 4.x ``text_model.embeddings.*``."""
    return name if name in params or f"text_model.{name}" not in params else f"text_model.{name}"


def max_weight_difference(model: torch.nn.Module, text_encoder, names: list[str]) -> float:
    """Largest |open_clip - text encoder| over the HF tensors of ``names`` (the two must hold the same weights)."""
    hf = to_hf_state({n: model.state_dict()[n] for n in names})
    params = dict(text_encoder.named_parameters())
    hf = {_resolve(params, k): v for k, v in hf.items()}
    return max(float((params[k].detach().float().cpu() - v.detach().float().cpu()).abs().max()) for k, v in hf.items())


def check_same_text_tower(model: torch.nn.Module, text_encoder, names: list[str], dtype: str, model_name: str) -> None:
    """Refuse a pipeline whose text encoder is not the gradient model's text tower on ``names``
    (tolerance 1e-2 for a float16 pipeline, else 1e-5)."""
    diff = max_weight_difference(model, text_encoder, names)
    if diff > (1e-2 if dtype == "float16" else 1e-5):
        raise SystemExit(f"the pipeline's text encoder differs from the gradient model {model_name} on {names} (max "
                         f"|diff| {diff:.3g}): the SLUG edit must be computed on the pipeline's own CLIP (set "
                         "model.arch/pretrained to the text encoder of diffusion.model)")


def clip_tokenizer(context_length: int = 77, pad_token: str = "!"):
    """The CLIP BPE tokenizer built offline from open_clip's shipped vocabulary (ids = open_clip's).

    ``pad_token="!"`` (id 0) pads as open_clip does (and as SD 2.1's tokenizer); SD 1.5 pads with
    ``<|endoftext|>``. Either way the causal mask keeps padding from changing the prompt's tokens.
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer

    with gzip.open(default_bpe(), "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    tok = CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=merges, model_max_length=context_length,
                        bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                        pad_token=pad_token)
    return tok
