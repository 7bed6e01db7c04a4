"""Curate the concept's forget set from the shards (rule `curate_forget_set`)."""
from slug.concepts import check_concept_id, concept_pattern
from slug.data.curation import curate, write_forget_tar
from slug.io import write_json
from slug.workflow import as_list, setup

p = snakemake.params
log = setup(snakemake.log[0])
check_concept_id(snakemake.wildcards.concept)
terms, kind = p.concept["terms"], p.concept["kind"]
res = curate(as_list(snakemake.input.shards), terms, p.max_images, kind)
stats = {"concept": snakemake.wildcards.concept, "display_name": p.concept["name"], "kind": kind, "terms": terms,
         "rule": f"case-insensitive whole-word regex {concept_pattern(terms, kind).pattern}", **res.stats()}
log.info("%s", stats)
if len(res.samples) < p.min_images:
    raise SystemExit(
        f"concept {snakemake.wildcards.concept!r}: {len(res.samples)} forget pairs found, fewer than "
        f"forget.min_images={p.min_images}. Scanned {res.scanned} captions in {len(res.shards)} shard(s) "
        f"({', '.join(res.shards[:3])}{'...' if len(res.shards) > 3 else ''}) for the {kind} phrases of {terms} "
        "(case-insensitive, spaces and underscores alike). Fix the display name or add aliases in the "
        "config's concepts table, or scan more shards (data.forget_shards).")
write_forget_tar(res.samples, snakemake.output.tar)
write_json(snakemake.output.stats, stats)
