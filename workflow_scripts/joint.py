"""Joint unlearning of a set of concepts: sum their single-layer deltas, evaluate every concept (rule
`joint_unlearn_and_evaluate`). Also evaluates each concept's own delta alone, to show interference."""
import html

import pandas as pd

from slug.comparison import format_table, page
from slug.evaluation import cosine_matrix, load_eval_set
from slug.io import atomic_torch_save, atomic_write_text, load_tensor_dict, read_json, write_json
from slug.joint import combine_deltas, joint_metrics, meets, rescale_jointly, shared_layers
from slug.models import load_model, pick_device, save_state_dict
from slug.plots import cosine_plot
from slug.report import png_data_uri
from slug.search import Criterion
from slug.unlearn import apply_deltas
from slug.workflow import setup

p = snakemake.params
inp = snakemake.input
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
model, tok = bundle.model.eval(), bundle.tokenizer
original = {k: v.detach().clone() for k, v in model.state_dict().items()}
deltas = {c: load_tensor_dict(d, check_finite=True) for c, d in zip(p.concepts, inp.deltas)}
layers = {c: read_json(s)["layer"] for c, s in zip(p.concepts, inp.selections)}
overlap = shared_layers(layers)
log.info("layers: %s; shared: %s", layers, overlap or "none")
crit = Criterion(p.criterion["metric"], p.criterion["max"])
key = "top5" if crit.metric == "forget_top5" else "top1"


def scaled(scales):
    return combine_deltas([{n: scales[c] * t for n, t in deltas[c].items()} for c in p.concepts])


def evaluate(es, targets, deltas_to_apply):
    model.load_state_dict(apply_deltas(original, deltas_to_apply))
    return joint_metrics(model, tok, es, targets)


# The sum of the single-concept updates, then a joint re-search on the search split: a concept that the
# other updates pulled back above the criterion gets its own update scaled up until it is met again.
concept_names = list(p.names.values())  # their images are never capped
es_search = load_eval_set(p.celeba_dir, p.imagenet_dir, "search", bundle.preprocess_val, **p.search_caps,
                          keep=concept_names)
t_search = {c: es_search.target_index(p.names[c]) for c in p.concepts}
scales, rescale_trials = rescale_jointly(lambda sc: evaluate(es_search, t_search, scaled(sc)), p.concepts,
                                         crit.metric, crit.max_value, log=log.info)
search_sum, search_joint = rescale_trials[0]["metrics"], rescale_trials[-1]["metrics"]
joint = scaled(scales)
alone_search = {c: evaluate(es_search, t_search, deltas[c]) for c in p.concepts}
del es_search  # one split in memory at a time

es = load_eval_set(p.celeba_dir, p.imagenet_dir, "test", bundle.preprocess_val, **p.eval_caps, keep=concept_names)
targets = {c: es.target_index(p.names[c]) for c in p.concepts}
results = {"before": evaluate(es, targets, {})}
for c in p.concepts:
    results[f"only {c}"] = evaluate(es, targets, deltas[c])
results["sum of updates"] = evaluate(es, targets, scaled({c: 1.0 for c in p.concepts}))
results["joint (re-searched)"] = evaluate(es, targets, joint)
names = [p.names[c] for c in p.concepts]
mats = {"before": None, "joint": None}
model.load_state_dict(original)
mats["before"] = cosine_matrix(model, tok, es, names)
model.load_state_dict(apply_deltas(original, joint))
mats["joint"] = cosine_matrix(model, tok, es, names)
save_state_dict(model, snakemake.output.checkpoint)
atomic_torch_save(joint, snakemake.output.delta)
cosine_plot(mats["before"], mats["joint"], names, snakemake.output.cosine)

rows = []
for when, m in results.items():
    row = {"model": when}
    for c in p.concepts:
        row[f"forget_{key} {c}"] = m["forget"][c][key]
    row.update({"retain identities @1": m["retain_id_top1"], "objects @1": m["objects_top1"]})
    rows.append(row)
table = pd.DataFrame(rows)
shown = table.set_index("model").mul(100).round(1).reset_index()
# the criterion is judged on the search split, as SLUG's own selection; the tables report the test split
met_alone = {c: meets(alone_search[c], c, crit.metric, crit.max_value) for c in p.concepts}
met_sum = {c: meets(search_sum, c, crit.metric, crit.max_value) for c in p.concepts}
met = {c: meets(search_joint, c, crit.metric, crit.max_value) for c in p.concepts}
met_test = {c: meets(results["joint (re-searched)"], c, crit.metric, crit.max_value) for c in p.concepts}
drop = {k: results["before"][k] - results["joint (re-searched)"][k] for k in ("retain_id_top1", "objects_top1")}
drop_alone = {k: sum(results["before"][k] - results[f"only {c}"][k] for c in p.concepts)
              for k in ("retain_id_top1", "objects_top1")}
interference = {
    "shared_layers": overlap, "scales": scales, "rescale_evaluations": len(rescale_trials),
    "criterion_met_alone": met_alone, "criterion_met_by_sum": met_sum, "criterion_met_jointly": met,
    "criterion_met_jointly_test_split": met_test,
    "lost_by_summing": [c for c in p.concepts if met_alone[c] and not met_sum[c]],
    "retain_drop_joint": drop, "retain_drop_sum_of_single": drop_alone,
}
write_json(snakemake.output.metrics, {
    "set": snakemake.wildcards.joint_set, "concepts": p.concepts, "names": p.names, "layers": layers,
    "criterion": crit.describe(), "criterion_split": "search", "split": "test (held out)", "results": results,
    "search_split": {"sum of updates": search_sum, "joint (re-searched)": search_joint}, "interference": interference,
    "cosine_names": names, "cosine_before": mats["before"].round(5).tolist(), "cosine_joint": mats["joint"].round(5).tolist(),
})
log.info("\n%s\n%s", table.to_string(), interference)


def pct(v):
    return f"{100 * v:.1f} pt"


notes = []
if overlap:
    notes.append("Concepts that chose the same layer (their updates add): "
                 + "; ".join(f"<code>{html.escape(l)}</code>: {html.escape(', '.join(cs))}" for l, cs in overlap.items()))
else:
    notes.append("Every concept chose a different layer, so the updates touch disjoint tensors; they still interact through the forward pass.")
if interference["lost_by_summing"]:
    notes.append("<span class='bad'>Met the criterion alone but not with the plain sum of the updates: "
                 + html.escape(", ".join(interference["lost_by_summing"])) + "</span>: the other updates undo part of "
                 "their forgetting. The joint re-search scaled their update up: "
                 + html.escape(", ".join(f"{c} x{scales[c]:.3g}" for c in p.concepts if scales[c] != 1.0)) + ".")
if not all(met.values()):
    notes.append("<span class='bad'>Not met jointly even after the re-search: "
                 + html.escape(", ".join(c for c in p.concepts if not met[c])) + "</span>")
notes.append(f"Retain identities (outside the set) @1 fell by {pct(drop['retain_id_top1'])} jointly, against "
             f"{pct(drop_alone['retain_id_top1'])} summed over the single-concept updates; objects @1 by "
             f"{pct(drop['objects_top1'])} jointly, {pct(drop_alone['objects_top1'])} summed.")
body = [f"<p>Concepts: {html.escape(', '.join(names))}. Each update was found by its own SLUG search on the original "
        f"model; the joint model adds them, θ' = θ + Σ<sub>k</sub> s<sub>k</sub>·Δ<sub>k</sub>, with every s<sub>k</sub> = 1 unless the "
        "other updates pulled concept k back above the criterion (then s<sub>k</sub> is re-searched, doubling then bisecting, on the search split). "
        f"Criterion <code>{html.escape(crit.describe())}</code> (judged on the search split). "
        "Held-out test split; retain identities exclude every concept of the set.</p>",
        format_table(pd.DataFrame([{"concept": c, "layer": layers[c], "met alone": met_alone[c],
                                    "met by the sum": met_sum[c], "scale": scales[c], "met jointly": met[c],
                                    "met jointly (test split)": met_test[c]}
                                   for c in p.concepts])),
        "<h2>Accuracy (%)</h2>", format_table(shown),
        "<h2>Interference</h2>", "".join(f"<p>{n}</p>" for n in notes),
        "<h2>Image × name cosine similarity (original | joint)</h2>",
        f'<img src="{png_data_uri(snakemake.output.cosine)}" alt="cosine matrices">']
atomic_write_text(snakemake.output.report, page(f"Joint unlearning: {snakemake.wildcards.joint_set}", "\n".join(body)))
