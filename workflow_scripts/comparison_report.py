"""results/comparison.tsv and comparison.html over a concept set, averaged as the paper's Table 1."""
import html

import pandas as pd

from slug.comparison import average_methods, format_table, page, speed_ratios
from slug.io import atomic_path, atomic_write_text
from slug.report import png_data_uri
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0])
tables = [pd.read_csv(t, sep="\t") for t in snakemake.input.tables]
avg = average_methods(tables)
log.info("\n%s", avg.to_string())
with atomic_path(snakemake.output.table) as tmp:
    avg.to_csv(tmp, sep="\t", index=False, float_format="%.6g")

crit = f"{p.criterion['metric']} <= {p.criterion['max']:g}"
ratios = speed_ratios(avg.assign(criterion_met=avg.criterion_met.astype(str) + f"/{len(tables)}"))
body = [f"<p>Every method starts from the same model and uses the same forget set, retain set and evaluation code. "
        f"Each baseline trains until the forget criterion <code>{html.escape(crit)}</code> holds on the search split "
        f"or {p.baselines['max_epochs']} epochs are spent; SLUG takes one step on one layer. Accuracies are on the "
        "held-out test split after unlearning, averaged over the concepts below (MIA in %, 50 = no signal). "
        "<code>seconds</code> is each method's wall time per concept (SLUG: forget gradient, ranking, search, checkpoint; "
        "its retain gradient is computed once per model and shared, see <code>shared_seconds</code> in the "
        "per-concept tables); "
        "<code>grad_steps</code> counts forward+backward passes.</p>",
        "<h2>Averaged over concepts (the paper's Table 1)</h2>", format_table(avg),
        "<h2>Cost relative to SLUG</h2><p class='muted'>ratio &gt; 1: the baseline took longer than SLUG.</p>",
        format_table(ratios)]
for concept, t, plot in zip(p.concepts, tables, snakemake.input.plots):
    body += [f"<h2>{html.escape(concept)}</h2>", f'<img src="{png_data_uri(plot)}" alt="comparison {html.escape(concept)}">',
             format_table(t.drop(columns=["concept"]))]
atomic_write_text(snakemake.output.html, page("SLUG and the baselines compared", "\n".join(body)))
