"""Joint unlearning of a set of concepts: sum their single-layer deltas, evaluate every concept (rule
`joint_unlearn_and_evaluate`). Also evaluates each concept's own delta alone, to show interference."""
from slug.evaluation import cosine_matrix, load_eval_set
from slug.io import atomic_torch_save, atomic_write_text, load_tensor_dict, read_json, write_json
from slug.joint import (accuracy_table, combine_deltas, interference_summary, joint_metrics, joint_page, rescale_jointly,
                        shared_layers)
from slug.models import load_model, pick_device, save_state_dict
from slug.plots import cosine_plot
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
model.load_state_dict(original)
mats = {"before": cosine_matrix(model, tok, es, names)}
model.load_state_dict(apply_deltas(original, joint))
mats["joint"] = cosine_matrix(model, tok, es, names)
save_state_dict(model, snakemake.output.checkpoint)
atomic_torch_save(joint, snakemake.output.delta)
cosine_plot(mats["before"], mats["joint"], names, snakemake.output.cosine)

table = accuracy_table(results, p.concepts, crit.metric)
interference = interference_summary(p.concepts, crit.metric, crit.max_value, overlap, scales, len(rescale_trials),
                                    alone_search, search_sum, search_joint, results)
write_json(snakemake.output.metrics, {
    "set": snakemake.wildcards.joint_set, "concepts": p.concepts, "names": p.names, "layers": layers,
    "criterion": crit.describe(), "criterion_split": "search", "split": "test (held out)", "results": results,
    "search_split": {"sum of updates": search_sum, "joint (re-searched)": search_joint}, "interference": interference,
    "cosine_names": names, "cosine_before": mats["before"].round(5).tolist(),
    "cosine_joint": mats["joint"].round(5).tolist(),
})
log.info("\n%s\n%s", table.to_string(), interference)
atomic_write_text(snakemake.output.report, joint_page(snakemake.wildcards.joint_set, p.concepts, p.names, layers,
                                                      crit.describe(), interference, table, snakemake.output.cosine))
