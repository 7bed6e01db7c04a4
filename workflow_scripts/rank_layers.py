"""Rank layers by importance and gradient alignment; Pareto front per tower (rule `rank_layers`)."""
from slug.io import load_tensor_dict, write_tsv
from slug.clip.models import load_weights
from slug.report.plots import pareto_plot
from slug.core.ranking import layer_scores
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0])
params = load_weights(p.model["arch"], p.model["pretrained"])
g_f = load_tensor_dict(snakemake.input.forget, check_finite=True)
g_r = load_tensor_dict(snakemake.input.retain, check_finite=True)
df = layer_scores(params, g_f, g_r, include_layernorm=p.include_layernorm)
log.info("front layers:\n%s", df[df.on_front].to_string())
write_tsv(snakemake.output.table, df)
for tower in ("vision", "text"):
    pareto_plot(df, tower, snakemake.output[tower], title=f"{snakemake.wildcards.concept}: {tower} tower")
