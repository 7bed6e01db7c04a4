"""results/comparison.tsv and comparison.html over a concept set, averaged as the paper's Table 1."""
import pandas as pd

from slug.io import atomic_write_text, write_tsv
from slug.stages.baselines import comparison_page
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0])
tables = [pd.read_csv(t, sep="\t") for t in snakemake.input.tables]
avg, html = comparison_page(tables, p.concepts, snakemake.input.plots, p.criterion, p.baselines["max_epochs"])
log.info("\n%s", avg.to_string())
write_tsv(snakemake.output.table, avg)
atomic_write_text(snakemake.output.html, html)
