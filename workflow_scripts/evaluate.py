"""Before/after evaluation on held-out data (rule `evaluate`)."""
from slug.config import image_caps
from slug.data import load_pairs
from slug.evaluation import (CachedEvaluator, bootstrap_change, cosine_matrix, load_eval_set, matched_cosine,
                             mia_score)
from slug.io import write_json
from slug.models import load_model, pick_device
from slug.plots import cosine_plot
from slug.workflow import as_list, setup

p = snakemake.params
ev = p.evaluation
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
models = {"before": load_model(p.model, device),
          "after": load_model(p.model, device, pretrained=snakemake.input.unlearned)}
tf, tok = models["before"].preprocess_val, models["before"].tokenizer
name = p.concept["name"]
es = load_eval_set(p.celeba_dir, p.imagenet_dir, "test", tf, **image_caps(ev), keep=[name, *ev["cosine_names"]])
target = es.target_index(name)
members = load_pairs([snakemake.input.forget_tar], tf, tok)
nonmembers = load_pairs(as_list(snakemake.input.nonmember), tf, tok)
names = [name] + [n for n in ev["cosine_names"] if n != name and es.has_images(n)][:4]

out = {"concept": snakemake.wildcards.concept, "display_name": name, "split": "test (held out from the search)",
       "n_target_images": int((es.id_labels == target).sum()), "n_identities": len(es.id_names),
       "n_identity_images": len(es.id_labels), "n_object_images": len(es.obj_labels),
       "n_forget_pairs": len(members[0]), "n_nonmember_pairs": len(nonmembers[0]), "cosine_names": names}
mats, hits = {}, {}
for when, b in models.items():
    b.model.eval()
    evaluator = CachedEvaluator(b.model, tok, es, target)
    m, hits[when] = evaluator.baseline(), evaluator.hits()
    mia = mia_score(matched_cosine(b.model, members[0], members[1]), matched_cosine(b.model, nonmembers[0], nonmembers[1]),
                    seeds=ev["mia_seeds"], splits=ev["mia_splits"])
    m["mia_mean"], m["mia_std"] = mia
    mats[when] = cosine_matrix(b.model, tok, es, names)
    m["cosine_matrix"] = mats[when].round(5).tolist()
    out[when] = m
    log.info("%s: %s", when, {k: v for k, v in m.items() if k != "cosine_matrix"})
out["change"] = {k: out["after"][k] - out["before"][k] for k in out["before"] if k != "cosine_matrix"}
# how far the two retain changes could move on other held-out images of the same kind
out["change_ci"] = {
    "retain_id_top1": bootstrap_change(hits["before"]["identities"], hits["after"]["identities"], es.id_labels,
                                       macro=True, exclude=target, seed=p.seed),
    "objects_top1": bootstrap_change(hits["before"]["objects"], hits["after"]["objects"], es.obj_labels,
                                     macro=False, seed=p.seed),
}
log.info("95%% intervals of the changes: %s", {k: [round(100 * x, 2) for x in v["ci"]] for k, v in out["change_ci"].items()})
cosine_plot(mats["before"], mats["after"], names, snakemake.output.cosine)
write_json(snakemake.output.metrics, out)
