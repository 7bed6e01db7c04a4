"""Train the demo's pixel-space text-to-image UNet on the demo world (rule `sd_train`)."""
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import torch

from slug import diffusion as D
from slug.budget import TimeBudget
from slug.hf_clip import clip_tokenizer, convert_text_tower
from slug.io import atomic_path, write_json
from slug.models import load_model, pick_device
from slug.workflow import setup, versions
from slug.world import Identity

p = snakemake.params
cfg = p.diffusion
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
world = [Identity(**d) for d in json.loads(Path(snakemake.input.identities).read_text())]
subjects = D.resolve_subjects(cfg, p.concept_names, [i.name for i in world])
log.info("generator subjects: %d identities %s, %d objects %s", len(subjects.identities), subjects.identities,
         len(subjects.objects), subjects.objects)
tr = cfg["train"]
t0 = time.time()
images, captions, labels = D.render_training_set(world, subjects, tr["images"], cfg["resolution"], p.seed)
log.info("rendered %d training images in %.1fs", len(images), time.time() - t0)
ctx = int(bundle.model.positional_embedding.shape[0])
encoder, tokenizer = convert_text_tower(bundle.model).to(device), clip_tokenizer(ctx)
torch.manual_seed(p.seed)
unet = D.demo_unet(encoder.config.hidden_size, cfg["resolution"], tr["channels"]).to(device)
log.info("UNet2DConditionModel: %d parameters", sum(q.numel() for q in unet.parameters()))
budget = TimeBudget(tr["max_minutes"], "diffusion.train.max_minutes", "diffusion.train.steps", tr["steps"],
                    stop=tr["time_limited"], stop_setting="diffusion.train.time_limited")
t0 = time.time()
logs = D.train_demo_unet(unet, encoder, tokenizer, images, captions, steps=tr["steps"], batch_size=tr["batch_size"],
                         lr=tr["lr"], cond_dropout=tr["cond_dropout"], seed=p.seed, budget=budget)
seconds = time.time() - t0
log.info("trained %d steps in %.1fs, final loss (EMA) %.4f", logs[-1]["step"] + 1, seconds, logs[-1]["loss_ema"])

out = Path(snakemake.output.unet)
tmp = out.with_name(f".{out.name}.tmp")
shutil.rmtree(tmp, ignore_errors=True)
unet.save_pretrained(tmp)
shutil.rmtree(out, ignore_errors=True)
os.replace(tmp, out)
with atomic_path(snakemake.output.loss) as t:
    pd.DataFrame(logs).to_csv(t, sep="\t", index=False, float_format="%.6g")
write_json(snakemake.output.info, {
    "identities": subjects.identities, "objects": subjects.objects, "resolution": cfg["resolution"],
    "train": tr, "steps_done": logs[-1]["step"] + 1, **budget.record(),
    "final_loss_ema": logs[-1]["loss_ema"], "train_seconds": round(seconds, 1), "threads": snakemake.threads,
    "parameters": sum(q.numel() for q in unet.parameters()), "text_encoder": p.model, "context_length": ctx,
    "seed": p.seed, "versions": versions(),
})
