"""Write the self-contained per-concept HTML report (rule `report`)."""
import pandas as pd

from slug.io import atomic_write_text, read_json
from slug.report import concept_report, png_data_uri, stage_times
from slug.workflow import setup

SD_GRIDS = ("target_before", "target_after", "retain_before", "retain_after")

p = snakemake.params
inp = snakemake.input
setup(snakemake.log[0])
times = stage_times(dict(zip(p.stages, inp.benchmarks)))
retain = stage_times({"retain": inp.retain_benchmark})["seconds"].iloc[0] or 0.0
html = concept_report(
    snakemake.wildcards.concept, p.concept["name"], read_json(inp.metrics), read_json(inp.selection),
    pd.read_csv(inp.trials, sep="\t"), pd.read_csv(inp.layers, sep="\t"), read_json(inp.forget_stats),
    {k: png_data_uri(inp[k]) for k in ("cosine", "pareto_vision", "pareto_text")}, times, retain, dict(p.config),
    zeroshot=read_json(inp.zeroshot),
    sd={"metrics": read_json(inp.sd_metrics), **{k: png_data_uri(inp[f"sd_{k}"]) for k in SD_GRIDS}}
    if "sd_metrics" in inp.keys() else None,
    vlm={"metrics": read_json(inp.vlm_metrics), "selection": read_json(inp.vlm_selection),
         "train": read_json(inp.vlm_train) if "vlm_train" in inp.keys() else None,
         "examples": png_data_uri(inp.vlm_examples),
         "times": stage_times({b.rsplit("/", 1)[-1][:-4]: b for b in inp.vlm_benchmarks}).to_dict("records")}
    if "vlm_metrics" in inp.keys() else None)
atomic_write_text(snakemake.output[0], html)
