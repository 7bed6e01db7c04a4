"""Write the single-layer delta and the full unlearned checkpoint (rule `unlearn`)."""
from slug.config import bundled_arch_config
from slug.io import atomic_torch_save, load_tensor_dict, read_json, sha256, write_json
from slug.clip.models import load_weights, save_state_dict, source_preprocess
from slug.core.unlearn import apply_deltas, single_layer_delta
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0])
sel = read_json(snakemake.input.selection)
state = load_weights(p.model["arch"], p.model["pretrained"])
g = load_tensor_dict(snakemake.input.forget, check_finite=True)[sel["layer"]]
delta = {sel["layer"]: single_layer_delta(state[sel["layer"]], g, sel["lambda"])}
log.info("layer %s, lambda %.6g, rho %.4g, |delta|/|theta| = %.4g", sel["layer"], sel["lambda"], sel["rho"],
         float(delta[sel["layer"]].norm() / state[sel["layer"]].norm()))
atomic_torch_save(delta, snakemake.output.delta)
save_state_dict(apply_deltas(state, delta), snakemake.output.checkpoint)
# Python that loads the unlearned model with open_clip, run from the workflow's directory
load_snippet = "import open_clip; "
if bundled_arch_config(p.model["arch"]) is not None:  # an architecture of slug/model_configs: register it first
    load_snippet += "from slug.clip.models import register_configs; register_configs(); "
preprocess = source_preprocess(p.model.get("source")) or {}  # the tag's, as every job applies it
kwargs = "".join(f", image_{k}={v!r}" for k, v in preprocess.items())
load_snippet += (f"model, _, preprocess = open_clip.create_model_and_transforms({p.model['arch']!r}, "
                 f"pretrained={str(snakemake.output.checkpoint)!r}{kwargs})")
write_json(snakemake.output.manifest, {
    "base_model": p.model, "layer": sel["layer"], "lambda": sel["lambda"], "rho": sel["rho"],
    "delta_sha256": sha256(snakemake.output.delta), "checkpoint_sha256": sha256(snakemake.output.checkpoint),
    "load": load_snippet,
})
