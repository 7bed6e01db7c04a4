"""The unlearned CLIP's model card, README.md beside its weights (rule `model_card`)."""

from slug.export.card import clip_card, write_card
from slug.io import read_json
from slug.workflow import setup

setup(snakemake.log[0])
i, p = snakemake.input, snakemake.params
manifest = read_json(i.manifest)
files = {name: manifest[f"{key}_sha256"] for name, key in (("delta.pt", "delta"), ("checkpoint.pt", "checkpoint"),
         ("delta.safetensors", "delta_safetensors"), ("model.safetensors", "model_safetensors"))}
write_card(snakemake.output[0], clip_card(snakemake.wildcards.concept, manifest, read_json(i.selection),
                                          read_json(i.metrics), read_json(i.forget_stats), p.retain, files, p.report,
                                          p.demo))
