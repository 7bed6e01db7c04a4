"""Partial forward passes: a CLIP tower cut into stages, run from the stage an edit enters."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------------------------
# Partial forward passes: run a tower from the stage an edit enters, on cached activations
# ------------------------------------------------------------------------------------------

_BLOCK_PARAM = re.compile(r"^resblocks\.(\d+)\.(ln_1|attn|ls_1|ln_2|mlp|ls_2)\.")


class _Staged:
    """One CLIP tower of a standard open_clip ``CLIP`` cut into stages.

    Stage 0 embeds the raw input; stages ``1 + 2i`` and ``2 + 2i`` are the attention and MLP
    halves of residual block ``i``; stage ``1 + 2L`` is the final LayerNorm and pooling and
    ``2 + 2L`` the projection. An edit of a parameter used first by stage ``s`` leaves the
    activations entering ``s`` unchanged, so they are cached once per layer and only stages
    ``s..`` run per search iteration. Everything runs through the model's own modules.

    Exact shortcuts (the features equal the full forward up to float rounding):
    - pooling selects one token (vision class token, text EOT) and the final LayerNorm, the
      MLP and the residuals act per token, so after the last block's attention keys and values
      only the pooled token is carried;
    - text attention is causal and pooling takes the EOT token, so tokens after the longest
      prompt's EOT cannot change any feature and are dropped.
    """

    def __init__(self, blocks, prefix: str, batch_size: int):
        self.blocks, self.prefix, self.L, self.batch_size = blocks, prefix, len(blocks), batch_size

    @property
    def n_stages(self) -> int:
        return 3 + 2 * self.L  # the last value means "finished": normalised features

    def stage_of(self, name: str) -> int:
        rel = name[len(self.prefix):]
        m = _BLOCK_PARAM.match(rel.replace("transformer.", "", 1))
        if m:
            return 1 + 2 * int(m.group(1)) + (0 if m.group(2) in ("ln_1", "attn", "ls_1") else 1)
        return self._head_stage(rel)

    def _head_stage(self, rel: str) -> int:
        raise NotImplementedError

    # the per-tower pieces
    def _embed(self, x, aux):
        raise NotImplementedError

    def _mask(self, aux):
        return None

    def _select(self, x, aux):
        """The pooled token's rows [N, 1, W] of full token activations."""
        raise NotImplementedError

    def _pool_norm(self, x, aux):
        raise NotImplementedError

    def _project(self, pooled):
        raise NotImplementedError

    def advance(self, x: torch.Tensor, aux, start: int, stop: int) -> torch.Tensor:
        """Activations entering ``stop`` from those entering ``start`` (``stop = n_stages``: features)."""
        s, last = start, self.L - 1
        if s == 0 and s < stop:
            x, s = self._embed(x, aux), 1
        mask = self._mask(aux)
        while s < stop and s <= 2 * self.L:
            i, half = divmod(s - 1, 2)
            blk = self.blocks[i]
            if half == 0:
                h = blk.ln_1(x)
                if i == last:  # only the pooled token's query matters from here on
                    q, qm = self._select(h, aux), self._select_mask(mask, aux)
                    x = self._select(x, aux) + blk.ls_1(blk.attention(q_x=q, k_x=h, v_x=h, attn_mask=qm))
                else:
                    x = x + blk.ls_1(blk.attention(q_x=h, attn_mask=mask))
            else:
                x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
            s += 1
        if s < stop and s == 1 + 2 * self.L:
            x = self._pool_norm(x, aux)
            s += 1
        if s < stop and s == 2 + 2 * self.L:
            x = F.normalize(self._project(x), dim=-1)
            s += 1
        return x

    def _select_mask(self, mask, aux):
        return None


class _StagedVision(_Staged):
    def __init__(self, visual, batch_size: int):
        super().__init__(visual.transformer.resblocks, "visual.", batch_size)
        self.v = visual

    @staticmethod
    def supports(model) -> bool:
        from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

        v = getattr(model, "visual", None)
        return (isinstance(v, VisionTransformer) and v.attn_pool is None and v.pool_type == "tok"
                and getattr(v.transformer, "batch_first", False) and not v.output_tokens
                and all(type(b) is ResidualAttentionBlock and not hasattr(b, "ln_1_kv")
                        for b in v.transformer.resblocks))

    def _head_stage(self, rel: str) -> int:
        if rel == "proj":
            return 2 + 2 * self.L
        if rel.startswith("ln_post."):
            return 1 + 2 * self.L
        return 0  # conv1, class/positional embedding, ln_pre, anything unknown: the whole tower

    def _embed(self, x, aux):
        return self.v._embeds(x)

    def _select(self, x, aux):
        return x[:, :1]

    def _pool_norm(self, x, aux):
        return self.v.ln_post(x[:, 0])  # LayerNorm is per token: ln_post(x)[:, 0] == ln_post(x[:, 0])

    def _project(self, pooled):
        return pooled @ self.v.proj if self.v.proj is not None else pooled


class _StagedText(_Staged):
    def __init__(self, model, batch_size: int):
        super().__init__(model.transformer.resblocks, "", batch_size)
        self.m = model

    @staticmethod
    def supports(model) -> bool:
        from open_clip.model import CLIP
        from open_clip.transformer import ResidualAttentionBlock

        if not isinstance(model, CLIP) or model.text_pool_type != "argmax" or model.attn_mask is None:
            return False
        n = model.attn_mask.shape[0]
        causal = torch.full((n, n), float("-inf")).triu_(1)
        return (getattr(model.transformer, "batch_first", False) and torch.equal(model.attn_mask.cpu(), causal)
                and all(type(b) is ResidualAttentionBlock and not hasattr(b, "ln_1_kv")
                        for b in model.transformer.resblocks))

    def stage_of(self, name: str) -> int:
        if not name.startswith("transformer."):
            return self._head_stage(name)
        return super().stage_of(name)

    def _head_stage(self, rel: str) -> int:
        if rel == "text_projection" or rel.startswith("text_projection."):
            return 2 + 2 * self.L
        if rel.startswith("ln_final."):
            return 1 + 2 * self.L
        return 0  # token/positional embedding, anything unknown: the whole tower

    def _embed(self, tokens, aux):
        cast = self.m.transformer.get_cast_dtype()
        T = tokens.shape[1]
        x = self.m.token_embedding(tokens).to(cast)
        return x + self.m.positional_embedding[:T].to(cast)

    def _mask(self, aux):
        T = aux["T"]
        return self.m.attn_mask[:T, :T]

    def _select(self, x, aux):
        return x[torch.arange(x.shape[0], device=x.device), aux["eot"]][:, None]

    def _select_mask(self, mask, aux):
        # causal: the EOT query at position p sees keys 0..p; [N * heads, 1, T] additive mask
        rows = mask[aux["eot"]][:, None, :]
        return rows.repeat_interleave(self.blocks[-1].attn.num_heads, dim=0).to(mask.dtype)

    def _pool_norm(self, x, aux):
        return self.m.ln_final(x[:, 0])  # x holds the EOT token only (see advance)

    def _project(self, pooled):
        proj = self.m.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, torch.nn.Linear) else pooled @ proj


