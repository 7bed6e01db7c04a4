"""Build and train the demo VLM (a small LLaVA on the demo CLIP's frozen vision tower) (rule `vlm_train`)."""
from slug.io import write_json, write_tsv
from slug.clip.models import pick_device
from slug.stages.vlm import train_vlm
from slug.vlm.model import save_vlm
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
world = {"identities": snakemake.input.identities, "characters": snakemake.input.characters}
vlm, tokenizer, losses, info = train_vlm(p.model, pick_device(p.device), world, p.vlm, p.image_size, p.seed,
                                         snakemake.threads, log)
save_vlm(vlm, tokenizer, snakemake.output.vlm)
write_tsv(snakemake.output.loss, losses)
write_json(snakemake.output.info, info)
