"""Tables and pages that put methods and concepts side by side.

- ``method_rows``: one concept, SLUG against the baselines (``results/{concept}/comparison.tsv``);
- ``average_methods``: the paper's Table 1 (each method averaged over a concept set);
- ``summary_rows``: the batch summary of SLUG over every concept (``results/summary.tsv``), naming
  the concepts whose jobs failed.

Accuracies are held-out test-split fractions after unlearning; times are wall seconds from Snakemake's
benchmark files; ``grad_steps`` counts forward+backward passes.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from slug.concepts import RETAIN_TOP1
from slug.config import CONCEPT_STAGES
from slug.io import atomic_write_text, read_json, write_tsv
from slug.report import CSS

#: Each task's retain top-1 and the name of its drop column (characters and styles where the config evaluates them).
DROPS = {k: k.replace("_top1", "_drop") for k in RETAIN_TOP1}
METRICS = ("forget_top1", "forget_top5", *DROPS, "mia_mean", "mia_std")
PCT = ("forget_top1", "forget_top5", *DROPS, *DROPS.values(),
       *(f"{k}_{e}" for k in METRICS[:6] for e in ("before", "after", "change_lo", "change_hi")))


def benchmark_seconds(path: str | Path) -> float | None:
    try:
        b = pd.read_csv(path, sep="\t")
        return float(b["s"].iloc[-1])
    except (OSError, KeyError, ValueError, IndexError, pd.errors.ParserError):
        return None


def _after(metrics: dict) -> dict:
    a, b = metrics["after"], metrics["before"]
    row = {k: a[k] for k in METRICS if k in a}
    row.update({drop: b[k] - a[k] for k, drop in DROPS.items() if k in a})
    return row


def method_rows(concept: str, slug_metrics: dict, slug_selection: dict, slug_seconds: float, slug_steps: int,
                retain_seconds: float | None, retain_steps: int | None,
                baselines: dict[str, tuple[dict, dict, float | None]]) -> pd.DataFrame:
    """One row per method (plus the original model) for one concept.

    ``baselines`` maps method -> (metrics.json, run.json, rule wall seconds). SLUG's ``seconds`` are its
    per-concept stages (forget gradient, ranking, search, checkpoint); the retain gradient, computed once
    per model and shared by every concept, is in ``shared_seconds``.
    """
    before = slug_metrics["before"]
    rows: list[dict[str, Any]] = [{
        "concept": concept, "method": "original", "criterion_met": False,
        **{k: before[k] for k in METRICS if k in before},
        **{drop: 0.0 for k, drop in DROPS.items() if k in before},
        "seconds": 0.0, "unlearn_seconds": 0.0, "shared_seconds": 0.0, "grad_steps": 0, "shared_grad_steps": 0,
        "evaluations": 0, "detail": "the model before unlearning"}]
    rows.append({
        "concept": concept, "method": "slug", "criterion_met": bool(slug_selection["criterion_met"]),
        **_after(slug_metrics), "seconds": slug_seconds, "unlearn_seconds": slug_seconds,
        "shared_seconds": retain_seconds, "grad_steps": slug_steps, "shared_grad_steps": retain_steps,
        "evaluations": slug_selection["n_trials"],
        "detail": f"{slug_selection['layer']} rho={slug_selection['rho']:.4g}"})
    for method, (metrics, run, seconds) in baselines.items():
        hp = run["hparams"]
        rows.append({
            "concept": concept, "method": method, "criterion_met": bool(run["criterion_met"]), **_after(metrics),
            "seconds": seconds, "unlearn_seconds": run["unlearn_s"], "shared_seconds": 0.0,
            "grad_steps": run["grad_steps"], "shared_grad_steps": 0, "evaluations": run["epochs"],
            "detail": f"{run['epochs']} epochs, lr={hp['lr']:g}"})
    return pd.DataFrame(rows)


def average_methods(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The paper's Table 1: every column averaged over concepts per method; MIA std across concepts."""
    df = pd.concat(tables, ignore_index=True)
    order = list(dict.fromkeys(df.method))
    g = df.groupby("method", sort=False)
    out = g[[c for c in ("forget_top1", "forget_top5", *DROPS, *DROPS.values(), "mia_mean", "seconds",
                         "unlearn_seconds", "grad_steps") if c in df]].mean()
    out["mia_std_across_concepts"] = g["mia_mean"].std(ddof=0)
    out["concepts"] = g.size()
    out["criterion_met"] = g["criterion_met"].sum().astype(int)
    return out.reindex(order).reset_index()


def speed_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Each baseline's wall time and gradient passes over SLUG's (per-concept cost; > 1 = SLUG faster)."""
    slug = table[table.method == "slug"].iloc[0]
    rows = []
    for _, r in table[~table.method.isin(["slug", "original"])].iterrows():
        rows.append({"method": r.method, "criterion_met": r.criterion_met,
                     "time_ratio": r.seconds / slug.seconds if slug.seconds else math.nan,
                     "unlearn_time_ratio": r.unlearn_seconds / slug.unlearn_seconds if slug.unlearn_seconds else math.nan,
                     "grad_step_ratio": r.grad_steps / slug.grad_steps if slug.grad_steps else math.nan})
    return pd.DataFrame(rows)


def summary_rows(concepts: Sequence[str], root: str | Path = "results",
                 stage_benchmarks: Sequence[str] = CONCEPT_STAGES) -> pd.DataFrame:
    """One row per concept of a batch; a concept whose outputs are missing is listed as failed."""
    root = Path(root)
    rows = []
    for c in concepts:
        sel_p, met_p = root / c / "selection.json", root / c / "metrics.json"
        if not (sel_p.is_file() and met_p.is_file()):
            missing = [p.name for p in (sel_p, met_p) if not p.is_file()]
            rows.append({"concept": c, "status": f"failed: no {', '.join(missing)} (see {root}/logs/{c}/)"})
            continue
        sel, met = read_json(sel_p), read_json(met_p)
        secs = [benchmark_seconds(root / "benchmarks" / c / f"{s}.tsv") for s in stage_benchmarks]
        row = {"concept": c, "status": "ok" if sel["criterion_met"] else "criterion not met",
               "name": sel["display_name"], "kind": met.get("kind", "person"), "layer": sel["layer"],
               "tower": sel["tower"], "rho": sel["rho"], "lambda": sel["lambda"]}
        for k in ("forget_top1", "forget_top5", *RETAIN_TOP1, "mia_mean"):
            if k in met["before"]:  # characters and styles where the config evaluates them
                row[f"{k}_before"], row[f"{k}_after"] = met["before"][k], met["after"][k]
        for k, ci in met.get("change_ci", {}).items():  # the retain changes' 95% bootstrap intervals
            row[f"{k}_change_lo"], row[f"{k}_change_hi"] = ci["ci"]
        row["seconds"] = sum(s for s in secs if s is not None)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# HTML (self-contained; pandas escapes cell text)
# ------------------------------------------------------------------------------------------



def format_table(df: pd.DataFrame) -> str:
    def cell(col, v):
        if isinstance(v, float) and math.isnan(v):
            return "–"
        if col in PCT and isinstance(v, (int, float)):
            return f"{100 * v:.1f}"
        if isinstance(v, float):
            return f"{v:.4g}"
        return v

    shown = df.copy()
    for col in shown.columns:
        shown[col] = [cell(col, v) for v in shown[col]]
    shown.columns = [f"{c} (%)" if c in PCT else c for c in shown.columns]
    return shown.to_html(index=False, escape=True, border=0)


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def comparison_plot(table: pd.DataFrame, name: str, path: str | Path) -> None:
    """Forget top-1 (x) against retain identity top-1 (y) after unlearning, one point per method."""
    from slug.report.plots import _save, plt, sns

    df = table.copy()
    df["label"] = [f"{m} ({'–' if s is None or (isinstance(s, float) and math.isnan(s)) else f'{s:.0f} s'}"
                   f"{'' if ok or m == 'original' else ', criterion not met'})"
                   for m, s, ok in zip(df.method, df.seconds, df.criterion_met)]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sns.scatterplot(data=df, x="forget_top1", y="retain_id_top1", hue="label", style="label", s=110, ax=ax)
    for _, r in df.iterrows():
        ax.annotate(r.method, (r.forget_top1, r.retain_id_top1), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("forget accuracy @1 on the target (held out)  → lower is better")
    ax.set_ylabel("retain identity accuracy @1  ↑ higher is better")
    ax.set_title(f"Unlearning {name}: methods compared")
    ax.legend(title="method (wall time)", fontsize=8, title_fontsize=8, loc="best")
    _save(fig, path)


def failed_concepts(summary: pd.DataFrame) -> list[str]:
    """The concepts of a ``summary_rows`` table whose outputs are missing."""
    return [c for c, s in zip(summary.concept, summary.status) if str(s).startswith("failed")]


def write_summary(concepts: Sequence[str], table_path: str | Path, html_path: str | Path,
                  root: str | Path = "results") -> pd.DataFrame:
    """Write the batch summary (TSV + self-contained HTML); failed concepts are named, not dropped."""
    df = summary_rows(concepts, root)
    write_tsv(table_path, df)
    failed = failed_concepts(df)
    ok = df[df.status == "ok"]
    parts = [f"<p>{len(df)} concepts, each unlearned independently from the original model with SLUG "
             f"(one layer, one step); {len(ok)} met the forget criterion"
             + (f"; <span class='bad'>failed: {html.escape(', '.join(failed))}</span> (their logs are under "
                f"<code>{html.escape(str(root))}/logs/&lt;concept&gt;/</code>)" if failed else "")
             + ". Accuracies on the held-out test split, before → after; <code>seconds</code> = the concept's "
             "stages from curation to evaluation (the retain gradient is shared).</p>", format_table(df)]
    atomic_write_text(html_path, page("SLUG batch summary", "\n".join(parts)))
    return df

