"""Joint unlearning of a set of concepts: sum their single-layer deltas, evaluate every concept (rule
`joint_unlearn_and_evaluate`). Also evaluates each concept's own delta alone, to show interference."""
import html

import pandas as pd

from slug.comparison import format_table, page
from slug.evaluation import cosine_matrix, load_eval_set
from slug.io import atomic_torch_save, atomic_write_text, load_tensor_dict, read_json, write_json
from slug.joint import combine_deltas, joint_metrics, shared_layers
from slug.models import load_clip, pick_device, save_state_dict
from slug.plots import cosine_plot
from slug.report import png_data_uri
from slug.search import Criterion
from slug.unlearn import apply_deltas
from slug.workflow import device_report, setup

p = snakemake.params
inp = snakemake.input
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
log.info(device_report(device))
bundle = load_clip(p.model["arch"], p.model["pretrained"], device)
model, tok = bundle.model.eval(), bundle.tokenizer
original = {k: v.detach().clone() for k, v in model.state_dict().items()}
deltas = {c: load_tensor_dict(d, check_finite=True) for c, d in zip(p.concepts, inp.deltas)}
layers = {c: read_json(s)["layer"] for c, s in zip(p.concepts, inp.selections)}
joint = combine_deltas(list(deltas.values()))
overlap = shared_layers(layers)
log.info("layers: %s; shared: %s", layers, overlap or "none")

es = load_eval_set(p.celeba_dir, p.imagenet_dir, "test", bundle.preprocess_val)
targets = {c: es.target_index(p.names[c]) for c in p.concepts}
crit = Criterion(p.criterion["metric"], p.criterion["max"])
key = "top5" if crit.metric == "forget_top5" else "top1"


def evaluate(deltas_to_apply):
    model.load_state_dict(apply_deltas(original, deltas_to_apply))
    return joint_metrics(model, tok, es, targets)


results = {"before": evaluate({})}
for c in p.concepts:
    results[f"only {c}"] = evaluate(deltas[c])
results["joint"] = evaluate(joint)
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
met = {c: results["joint"]["forget"][c][key] <= crit.max_value + 1e-12 for c in p.concepts}
met_alone = {c: results[f"only {c}"]["forget"][c][key] <= crit.max_value + 1e-12 for c in p.concepts}
drop = {k: results["before"][k] - results["joint"][k] for k in ("retain_id_top1", "objects_top1")}
drop_alone = {k: sum(results["before"][k] - results[f"only {c}"][k] for c in p.concepts)
              for k in ("retain_id_top1", "objects_top1")}
interference = {
    "shared_layers": overlap,
    "criterion_met_jointly": met, "criterion_met_alone": met_alone,
    "lost_by_joining": [c for c in p.concepts if met_alone[c] and not met[c]],
    "retain_drop_joint": drop, "retain_drop_sum_of_single": drop_alone,
}
write_json(snakemake.output.metrics, {
    "set": snakemake.wildcards.joint_set, "concepts": p.concepts, "names": p.names, "layers": layers,
    "criterion": crit.describe(), "split": "test (held out)", "results": results, "interference": interference,
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
if interference["lost_by_joining"]:
    notes.append("<span class='bad'>Met the criterion alone but not jointly: "
                 + html.escape(", ".join(interference["lost_by_joining"])) + "</span>")
notes.append(f"Retain identities (outside the set) @1 fell by {pct(drop['retain_id_top1'])} jointly, against "
             f"{pct(drop_alone['retain_id_top1'])} summed over the single-concept updates; objects @1 by "
             f"{pct(drop['objects_top1'])} jointly, {pct(drop_alone['objects_top1'])} summed.")
body = [f"<p>Concepts: {html.escape(', '.join(names))}. Each update was found by its own SLUG search on the original "
        f"model; the joint model adds them: θ' = θ + Σ<sub>k</sub> Δ<sub>k</sub>. Criterion <code>{html.escape(crit.describe())}</code>. "
        "Held-out test split; retain identities exclude every concept of the set.</p>",
        format_table(pd.DataFrame([{"concept": c, "layer": layers[c], "met alone": met_alone[c], "met jointly": met[c]}
                                   for c in p.concepts])),
        "<h2>Accuracy (%)</h2>", format_table(shown),
        "<h2>Interference</h2>", "".join(f"<p>{n}</p>" for n in notes),
        "<h2>Image × name cosine similarity (original | joint)</h2>",
        f'<img src="{png_data_uri(snakemake.output.cosine)}" alt="cosine matrices">']
atomic_write_text(snakemake.output.report, page(f"Joint unlearning: {snakemake.wildcards.joint_set}", "\n".join(body)))
