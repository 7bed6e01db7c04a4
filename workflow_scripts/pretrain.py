"""Pretrain the demo CLIP on the downloaded shards (rule `pretrain`)."""
import pandas as pd

from slug.data import load_pairs
from slug.io import write_tsv
from slug.clip.models import load_clip, pick_device, save_state_dict
from slug.clip.pretrain import PretrainConfig, pretrain_clip
from slug.workflow import as_list, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_clip(p.arch, None, device)
images, tokens, _ = load_pairs(as_list(snakemake.input.shards), bundle.preprocess_val, bundle.tokenizer)
log.info("training on %d pairs from %d shards", len(images), len(as_list(snakemake.input.shards)))
res = pretrain_clip(bundle.model, images, tokens, PretrainConfig(seed=p.seed, **p.train))
log.info("%d steps in %.1fs, loss %.3f -> %.3f", res.steps, res.seconds, res.losses[0], res.losses[-1])
write_tsv(snakemake.output.losses, pd.DataFrame({"step": range(1, len(res.losses) + 1), "loss": res.losses}),
          float_format=None)
save_state_dict(bundle.model, snakemake.output.checkpoint)
