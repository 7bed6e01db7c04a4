"""Generate the demo world (rule `world`)."""
from pathlib import Path

from slug.workflow import setup
from slug.world import WorldSpec, write_world

log = setup(snakemake.log[0], seed=snakemake.params.seed)
spec = WorldSpec(seed=snakemake.params.seed, **snakemake.params.world)
out = Path(snakemake.output.parquet).parent
log.info("writing the demo world %s to %s", spec, out)
summary = write_world(spec, out)
log.info("done: %s", summary)
