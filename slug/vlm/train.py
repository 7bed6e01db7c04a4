"""Training the demo VLM as LLaVA is trained: the vision tower frozen, the projector and the language model
learning to answer questions about images in LLaVA's conversation form.

Since the tower is frozen, its features (``hidden_states[-2]`` without the class token) are computed once
(:func:`slug.vlm.model.tower_features`) and merged into the prompt's image tokens at every step
(:func:`slug.vlm.model.embed_with_features`); the loss is the next-token loss on the answer only.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import numpy as np
import torch

from slug.vlm.data import conversation
from slug.vlm.model import n_image_tokens, prompt_ids

_log = logging.getLogger("slug")


def encode_examples(tokenizer, n_tokens: int, questions: Sequence[str], answers: Sequence[str],
                    cache: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels`` (-100 on the prompt and the padding) of a batch of
    conversations, padded on the right. ``cache`` keeps each text's token ids across calls."""
    cache = {} if cache is None else cache

    def ids_of(kind: str, text: str) -> list[int]:
        if (kind, text) not in cache:
            cache[kind, text] = (prompt_ids(tokenizer, text, n_tokens) if kind == "q" else
                                 [*tokenizer(" " + text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id])
        return cache[kind, text]

    seqs, labs = [], []
    for q, a in zip(questions, answers):
        p, ans = ids_of("q", q), ids_of("a", a)
        seqs.append(p + ans)
        labs.append([-100] * len(p) + ans)
    n = max(map(len, seqs))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([s + [pad] * (n - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs])
    labels = torch.tensor([s + [-100] * (n - len(s)) for s in labs])
    return ids, mask, labels


def train_demo_vlm(model, tokenizer, features: torch.Tensor, kinds: Sequence[str], labels: Sequence[str], *,
                   steps: int, batch_size: int, lr: float, seed: int, warmup: int = 50,
                   budget=None, progress: Callable[[int, int], None] | None = None,
                   log: logging.Logger = _log) -> list[dict]:
    """Train the projector and the language model (the tower stays frozen) for ``steps`` steps of
    ``batch_size`` conversations, each a random image with a random trained phrasing; AdamW with a linear
    warm-up and a cosine decay. Returns the loss log (every 10 steps). ``budget``: a
    :class:`slug.budget.TimeBudget` checked every step."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for p in model.model.vision_tower.parameters():
        p.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    n_tok = n_image_tokens(model)
    model.train()
    logs, ema, cache = [], None, {}
    from slug.vlm.model import embed_with_features

    for step in range(steps):
        idx = rng.integers(len(features), size=batch_size)
        qa = [conversation(kinds[i], labels[i], rng) for i in idx]
        ids, mask, lab = encode_examples(tokenizer, n_tok, [q for q, _ in qa], [a for _, a in qa], cache)
        emb = embed_with_features(model, ids, features[torch.as_tensor(idx)])
        loss = model(inputs_embeds=emb, attention_mask=mask, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        value = loss.item()
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        if step % 10 == 0 or step == steps - 1:
            logs.append({"step": step, "loss": value, "loss_ema": ema, "lr": sched.get_last_lr()[0]})
        if progress:
            progress(step + 1, steps)
        if budget is not None and budget.reached(step + 1):
            log.warning("stopped by the time budget after %d of %d steps", step + 1, steps)
            break
    model.eval()
    return logs
