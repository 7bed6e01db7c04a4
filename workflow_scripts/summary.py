"""results/summary.tsv and summary.html: SLUG over every concept of a batch (rule `summary`).

The Snakefile's ``onerror`` handler calls ``write_summary`` too, so that a batch run with
``--keep-going`` in which some concepts failed still leaves a summary naming them.
"""
from slug.report.comparison import write_summary
from slug.workflow import setup

log = setup(snakemake.log[0])
df = write_summary(snakemake.params.concepts, snakemake.output.table, snakemake.output.html, snakemake.params.root)
log.info("\n%s", df.to_string())
