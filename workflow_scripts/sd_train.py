"""Train the demo's pixel-space text-to-image UNet on the demo world (rule `sd_train`)."""
from slug.io import write_json, write_tsv
from slug.clip.models import pick_device
from slug.stages.diffusion import save_unet, train_unet
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
world = {"identities": snakemake.input.identities, "characters": snakemake.input.characters}
unet, losses, info = train_unet(p.model, pick_device(p.device), world, p.diffusion, p.concepts, p.seed,
                                snakemake.threads, log)
save_unet(unet, snakemake.output.unet)
write_tsv(snakemake.output.loss, losses)
write_json(snakemake.output.info, info)
