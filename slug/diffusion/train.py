"""The demo UNet's training set (the demo world's renderers) and its DDPM training."""

from __future__ import annotations

import logging
import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from slug.budget import TimeBudget
from slug.diffusion.pipeline import train_scheduler
from slug.diffusion.subjects import Subjects

log = logging.getLogger("slug")

# --------------------------------------------------------------------------------------------
# Demo training data: the demo world's renderers
# --------------------------------------------------------------------------------------------


def render_training_set(world_identities: list, subjects: Subjects, n: int, size: int, seed: int,
                        person_fraction: float = 0.6, world_characters: list | None = None,
                        character_fraction: float = 0.0, style_fraction: float = 0.0):
    """``n`` (image uint8 [n,3,size,size], caption, label) triples drawn by the world's renderers and captioned
    with the world's named captions (every image its own seeded generator): a person with probability
    ``person_fraction``, a character with ``character_fraction`` (where the subjects have characters), else an
    object, which is drawn in one of the subjects' styles with probability ``style_fraction`` (its label is
    then the style). Without characters and styles the draws are those of a people-and-objects world."""
    from slug.world import (OBJECT_CLASSES, apply_style, character_caption, draw_character, draw_object, draw_person,
                            object_caption, person_caption, style_caption)

    by_name = {i.name: i for i in world_identities}
    chars = {c.name: c for c in world_characters or []}
    missing = [c for c in subjects.characters if c not in chars]
    if missing:
        raise ValueError(f"characters {missing} are not characters of the demo world ({sorted(chars)})")
    p_char = character_fraction if subjects.characters else 0.0
    p_style = style_fraction if subjects.styles else 0.0
    wnid = {name: w for w, (name, _) in OBJECT_CLASSES.items()}
    imgs = np.empty((n, size, size, 3), np.uint8)
    caps, labels = [], []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 77, i]))
        u = rng.random()
        if u < person_fraction:
            ident = by_name[subjects.identities[int(rng.integers(len(subjects.identities)))]]
            img, cap, lab = draw_person(ident, rng, size), person_caption(ident, rng, 1.0), ident.name
        elif u < person_fraction + p_char:
            ch = chars[subjects.characters[int(rng.integers(len(subjects.characters)))]]
            img, cap, lab = draw_character(ch, rng, size), character_caption(ch.name, rng, 1.0), ch.name
        else:
            obj = subjects.objects[int(rng.integers(len(subjects.objects)))]
            img, cap, lab = draw_object(wnid[obj], rng, size), object_caption(obj, rng), obj
            if p_style and rng.random() < p_style:
                style = subjects.styles[int(rng.integers(len(subjects.styles)))]
                img, cap, lab = apply_style(img, style, rng), style_caption(cap, style, rng, 1.0), style
        imgs[i] = np.asarray(img.convert("RGB"))
        caps.append(cap)
        labels.append(lab)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), caps, labels


@torch.no_grad()
def encode_prompts(text_encoder, tokenizer, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Text hidden states as ``StableDiffusionPipeline.encode_prompt`` computes them (no clip_skip)."""
    out = []
    dev = next(text_encoder.parameters()).device
    for i in range(0, len(prompts), batch_size):
        ids = tokenizer(list(prompts[i:i + batch_size]), padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        out.append(text_encoder(ids.to(dev))[0].cpu())
    return torch.cat(out)


def train_demo_unet(unet, text_encoder, tokenizer, images: torch.Tensor, captions: Sequence[str], *, steps: int,
                    batch_size: int = 32, lr: float = 1e-3, cond_dropout: float = 0.1, seed: int = 0,
                    budget: TimeBudget | None = None, progress: bool = True) -> list[dict]:
    """DDPM training (epsilon prediction, MSE) with classifier-free-guidance caption dropout.

    The text encoder is frozen, so each distinct caption is encoded once. Trains on the UNet's device;
    the random draws stay on the CPU, so a seed gives the same batches on any device. Trains exactly
    ``steps`` steps; ``budget`` (a :class:`slug.budget.TimeBudget`) only guards: reaching it raises
    ``TimeBudgetExceeded``, or ends a run the user marked time-limited early (``budget.stopped_at``).
    Returns the loss log.
    """
    from tqdm.auto import tqdm

    sched = train_scheduler()
    uniq = sorted(set(captions))
    index = {c: i for i, c in enumerate(uniq)}
    device = next(unet.parameters()).device
    cond = encode_prompts(text_encoder, tokenizer, uniq + [""]).to(device)
    cap_idx = torch.tensor([index[c] for c in captions])
    empty = len(uniq)
    x0_all = images.float() / 127.5 - 1.0
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    warm = min(100, steps // 10)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warm))
                                            * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    unet.train()
    logs, t0, ema = [], time.time(), None
    bar = tqdm(range(steps), desc="train UNet", disable=not progress, mininterval=5)
    for step in bar:
        idx = torch.randint(len(x0_all), (batch_size,), generator=g)
        x0 = x0_all[idx].to(device)
        if torch.rand(1, generator=g).item() < 0.5:
            x0 = x0.flip(-1)  # horizontal flip; the world's people and icons are near-symmetric
        c = cap_idx[idx].clone()
        c[torch.rand(batch_size, generator=g) < cond_dropout] = empty
        noise = torch.randn(x0.shape, generator=g).to(device)
        t = torch.randint(sched.config.num_train_timesteps, (batch_size,), generator=g).to(device)
        xt = sched.add_noise(x0, noise, t)
        pred = unet(xt, t, encoder_hidden_states=cond[c.to(device)]).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sch.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        elapsed = time.time() - t0
        if step % 25 == 0 or step == steps - 1:
            logs.append({"step": step, "loss": loss.item(), "loss_ema": float(ema), "seconds": elapsed})
            bar.set_postfix(loss=f"{ema:.4f}")
        if budget is not None and budget.reached(step + 1):
            log.warning("time-limited UNet training stopped by its budget (%.1f min) at step %d of %d",
                        budget.minutes, step + 1, steps)
            logs.append({"step": step, "loss": loss.item(), "loss_ema": float(ema), "seconds": elapsed})
            break
    unet.eval()
    return logs


