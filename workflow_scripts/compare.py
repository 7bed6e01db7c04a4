"""SLUG against the baselines on one concept: comparison.tsv and a plot (rule `compare_methods`)."""
import math

from slug.report.comparison import benchmark_seconds, comparison_plot, method_rows, speed_ratios
from slug.io import read_json, write_tsv
from slug.workflow import setup

p = snakemake.params
inp = snakemake.input
log = setup(snakemake.log[0])
slug_metrics, selection = read_json(inp.slug_metrics), read_json(inp.slug_selection)
stage_s = {s: benchmark_seconds(b) for s, b in zip(p.slug_stages, inp.slug_benchmarks)}
slug_seconds = sum(v for v in stage_s.values() if v is not None)
# gradient passes: the forget pass (per concept), the retain pass (once per model, shared)
slug_steps = math.ceil(slug_metrics["n_forget_pairs"] / p.batch_size)
n_retain = sum(read_json(s)["successes"] for s in inp.retain_stats)
if p.retain_max_samples:
    n_retain = min(n_retain, p.retain_max_samples)
retain_steps = math.ceil(n_retain / p.batch_size) if n_retain else None
baselines = {}
for method, m, r, b in zip(p.methods, inp.metrics, inp.runs, inp.benchmarks):
    baselines[method] = (read_json(m), read_json(r), benchmark_seconds(b))
table = method_rows(snakemake.wildcards.concept, slug_metrics, selection, slug_seconds, slug_steps,
                    benchmark_seconds(inp.retain_benchmark), retain_steps, baselines)
log.info("SLUG stages: %s", stage_s)
log.info("\n%s", table.to_string())
log.info("wall time and gradient passes relative to SLUG:\n%s", speed_ratios(table).to_string())
write_tsv(snakemake.output.table, table)
comparison_plot(table, p.concept["name"], snakemake.output.plot)
