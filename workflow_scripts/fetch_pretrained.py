"""Download the published weights named by model.pretrained into a local checkpoint (rule `fetch_pretrained`)."""
from slug.io import sha256, write_json
from slug.clip.models import fetch_pretrained, save_state_dict
from slug.workflow import setup, versions

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads)
log.info("fetching open_clip weights %s for %s (cache: %s)", p.tag, p.arch, p.cache_dir or "open_clip's default")
state, source = fetch_pretrained(p.arch, p.tag, p.cache_dir)
save_state_dict(state, snakemake.output.checkpoint)
source.update(n_tensors=len(state), n_parameters=sum(v.numel() for v in state.values()),
              checkpoint_sha256=sha256(snakemake.output.checkpoint), versions=versions())
write_json(snakemake.output.source, source)
log.info("saved %d tensors (%d parameters) to %s", source["n_tensors"], source["n_parameters"], snakemake.output.checkpoint)
