"""Self-contained HTML reports (images inlined as base64, no external assets)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import Environment, StrictUndefined

from slug.concepts import RETAIN_TOP1
from slug.config import SLUG_STAGES
from slug.core.ranking import short_name

METRIC_LABELS = {
    "forget_top1": "Forget accuracy @1 (target's images)",
    "forget_top5": "Forget accuracy @5 (target's images)",
    "retain_id_top1": "Retain identities @1 (every other identity)",
    "retain_id_top5": "Retain identities @5",
    "objects_top1": "Objects @1 (ImageNet-format set)",
    "objects_top5": "Objects @5",
    "characters_top1": "Characters @1 (among every character and person name)",
    "characters_top5": "Characters @5",
    "styles_top1": "Styles @1 (UnlearnCanvas-layout set)",
    "styles_top5": "Styles @5",
    "mia_mean": "Membership inference (%; 50 = no signal)",
}

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSS = (TEMPLATES / "style.css").read_text()  # one stylesheet for every page (the report, the comparisons)


def png_data_uri(path_or_bytes: str | Path | bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def fig_data_uri(plot_fn, *args, **kwargs) -> str:
    """Render a plot function that writes a PNG path into a data URI."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fig.png"
        plot_fn(*args, path=p, **kwargs)
        return png_data_uri(p)


def stage_times(benchmarks: dict[str, str | Path]) -> pd.DataFrame:
    """Wall-clock seconds and peak memory per stage, from Snakemake benchmark TSVs."""
    rows = []
    for stage, path in benchmarks.items():
        try:
            b = pd.read_csv(path, sep="\t")
            rss = str(b["max_rss"].iloc[-1]) if "max_rss" in b else "-"
            rows.append({"stage": stage, "seconds": float(b["s"].iloc[-1]),
                         "max_rss_mb": float(rss) if rss not in ("-", "nan") else None})
        except Exception:  # a benchmark that is missing or malformed must not break the report
            rows.append({"stage": stage, "seconds": None, "max_rss_mb": None})
    return pd.DataFrame(rows)


def fmt(v: Any, pct: bool = True) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{100 * v:.1f}%" if pct else f"{v:.4g}"
    return str(v)  # the template autoescapes




def _fmt_metric(key: str, v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if key.startswith("mia") else f"{100 * v:.1f}%"


def _fmt_delta(key: str, v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:+.1f}" if key.startswith("mia") else f"{100 * v:+.1f} pt"


SD_TASK_LABELS = {"identities": "other identities (mean)", "objects": "objects (mean)",
                  "characters": "characters (mean)", "styles": "styles (mean)"}


def sd_rows(name: str, sd: dict | None) -> list[tuple[str, str]]:
    """The Stable Diffusion table's rows: ``(key of sd_metrics.json's *_before/*_after, label)``."""
    if not sd:
        return []
    m = sd["metrics"]
    tasks = m.get("retain_tasks", ["identities", "objects"])  # a record older than the tasks list
    return [("target", f"target: {name} ({m['n_images']['target']} images)"),
            *[(t, SD_TASK_LABELS[t]) for t in tasks]]


def concept_report(concept: str, name: str, metrics: dict, selection: dict, trials: pd.DataFrame, layers: pd.DataFrame,
                   forget_stats: dict, images: dict[str, str], times: pd.DataFrame, retain_seconds: float,
                   config: dict, zeroshot: dict | None = None, sd: dict | None = None,
                   vlm: dict | None = None) -> str:
    """Render the per-concept report as a single HTML string."""
    from slug.report.plots import search_trace_plot

    trace = fig_data_uri(search_trace_plot, trials, selection["layer"], selection["criterion"].split()[0])
    env = Environment(undefined=StrictUndefined, autoescape=True)
    env.globals.update(fmt=fmt, fmtm=_fmt_metric, fmtd=_fmt_delta)
    tshow = trials.copy()
    tshow["layer"] = tshow["layer"].map(short_name)
    core = times[times.stage.isin(SLUG_STAGES)]
    slug_seconds = float(core["seconds"].fillna(0).sum())
    shared = pd.DataFrame([{"stage": "retain_gradient (shared by all concepts)", "seconds": retain_seconds}])
    times = pd.concat([times, shared])
    return env.from_string((TEMPLATES / "report.html.j2").read_text()).render(
        css=CSS, concept=concept, name=name, model=config["model"]["name"], sel=selection, m=metrics, retain=RETAIN_TOP1,
        labels={k: v for k, v in METRIC_LABELS.items() if k in metrics["before"]}, cosine=images["cosine"],
        pareto_vision=images["pareto_vision"],
        pareto_text=images["pareto_text"], front=layers[layers.on_front].to_dict("records"), n_layers=len(layers),
        trace=trace, trials_html=tshow.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0),
        fs=forget_stats, times_html=times.to_html(index=False, float_format=lambda x: f"{x:.1f}", border=0, na_rep="–"),
        slug_seconds=slug_seconds,
        retain_seconds=retain_seconds, cfg=config, zs=zeroshot or {}, sd=sd, sd_rows=sd_rows(name, sd), vlm=vlm,
        config_yaml=yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))
