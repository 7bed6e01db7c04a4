"""Before/after generations of the target and retain prompts, same noise, and their recognition (rule `sd_evaluate`)."""
import time

from slug import diffusion as D
from slug.hf_clip import apply_text_edit
from slug.io import load_tensor_dict, read_json, write_json
from slug.models import pick_device
from slug.workflow import setup, versions

p = snakemake.params
cfg, e = p.diffusion, p.diffusion["eval"]
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
target = p.concept["name"]
bundle, info, subjects, pipe = D.open_sd(p.model, cfg, target, snakemake.input.get("info"), snakemake.input.get("unet"),
                                         device)
sel = read_json(snakemake.input.selection)
delta = load_tensor_dict(snakemake.input.delta, check_finite=True)
rec = D.Recogniser(bundle, subjects)
ps = D.evaluation_prompts(subjects, target, e["target_images"], e["retain_images"], e["retain_images"])
noise = D.fixed_noise(pipe, len(ps), e["seed"])


def run():
    t0 = time.time()
    imgs = D.generate(pipe, ps.prompts, noise, cfg["steps"], cfg["guidance"], clip_skip=cfg["clip_skip"])
    return imgs, time.time() - t0


before, t_before = run()
apply_text_edit(pipe, delta, cfg["clip_skip"])
after, t_after = run()
out = {}
for tag, imgs in (("before", before), ("after", after)):
    m = D.recognition_metrics(ps, rec.predict(imgs, ps.kinds), subjects)
    out[tag] = m
    log.info("%s: target %.3f, other identities %.3f, objects %.3f", tag, m["forget_top1"], m["retain_id_top1"],
             m["objects_top1"])

# grids: the first target images; one image per retain subject (its first), before and after
shown = D.grid_indices(ps)
for key, idx in shown.items():
    for tag, imgs in (("before", before), ("after", after)):
        D.save_grid_png(imgs[idx], snakemake.output[f"{key}_{tag}"])

chance = subjects.chance_identity
b, a = out["before"], out["after"]
per_retain = {s_: {"before": b["per_subject"][s_], "after": a["per_subject"][s_]} for s_ in ps.subjects
              if s_ != target}
write_json(snakemake.output.metrics, {
    "concept": snakemake.wildcards.concept, "display_name": target, "layer": sel["layer"], "rho": sel["rho"],
    "edit": sel["edit"], "criterion_met_in_search": sel["criterion_met"],
    "chance_identity": chance, "chance_object": subjects.chance_object,
    "target_before": b["forget_top1"], "target_after": a["forget_top1"],
    "identities_before": b["retain_id_top1"], "identities_after": a["retain_id_top1"],
    "objects_before": b["objects_top1"], "objects_after": a["objects_top1"],
    "checks": D.recognition_checks(b, a, chance),
    "per_subject": per_retain,
    "n_images": {"target": e["target_images"], "per_identity": e["retain_images"], "per_object": e["retain_images"],
                 "total_per_pass": len(ps)},
    "prompt_templates": {"person": list(D.PERSON_PROMPTS), "object": list(D.OBJECT_PROMPTS)},
    "generation_seconds": {"before": round(t_before, 1), "after": round(t_after, 1)},
    "sampler": {"scheduler": type(pipe.scheduler).__name__, "steps": cfg["steps"], "guidance": cfg["guidance"],
                "noise_seed": e["seed"], "dtype": cfg["dtype"], "resolution": D.sd_size(pipe)},
    "identities": subjects.identities, "objects": subjects.objects, "diffusion_model": cfg["model"],
    "train": ({k: info.get(k) for k in ("train_seconds", "steps_done", "final_loss_ema", "parameters", "time_limited",
                                         "stopped_by_time_budget", "max_minutes")} | {"steps": info["train"]["steps"]}
              if info else None),
    "versions": versions(),
})
