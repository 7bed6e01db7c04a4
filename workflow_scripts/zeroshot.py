"""Zero-shot accuracy of the model on the held-out sets: identities, objects, characters, styles (rule `zeroshot`)."""
from slug.clip.evaluation import CachedEvaluator, load_eval_set
from slug.io import write_json
from slug.clip.models import load_model, pick_device
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
es = load_eval_set(p.dirs, "all", bundle.preprocess_val, **p.caps)
m = CachedEvaluator(bundle.model, bundle.tokenizer, es, target=None).baseline()
result = {"identity_top1": m["retain_id_top1"], "identity_top5": m["retain_id_top5"],
          "objects_top1": m["objects_top1"], "objects_top5": m["objects_top5"],
          "n_identities": len(es.id_names), "n_identity_images": len(es.id_labels),
          "n_object_classes": len(es.obj_names), "n_object_images": len(es.obj_labels),
          "identity_template": "{name}.", "object_templates": 7, "model": p.model,
          **{k: m[k] for t in ("characters", "styles") for k in (f"{t}_top1", f"{t}_top5") if k in m},
          **({"n_characters": len(es.char_names)} if es.char_names else {}),
          **({"n_styles": len(es.style_names)} if es.style_names else {})}
log.info("%s", result)
write_json(snakemake.output[0], result)
