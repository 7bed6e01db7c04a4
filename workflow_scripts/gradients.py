"""Forget or retain gradient (rules `forget_gradient` and `retain_gradient`)."""
from slug.data import load_pairs
from slug.core.gradients import candidate_names, forget_gradient, retain_gradient
from slug.io import atomic_torch_save
from slug.clip.models import load_model, pick_device
from slug.workflow import as_list, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
is_forget = snakemake.rule == "forget_gradient"
# forget pairs through the eval transform, retain pairs through the training transform (as the reference)
transform = bundle.preprocess_val if is_forget else bundle.preprocess_train
images, tokens, _ = load_pairs(as_list(snakemake.input.shards), transform, bundle.tokenizer, limit=p.max_samples)
names = candidate_names(bundle.model, include_layernorm=True)
log.info("%s gradient over %d pairs, %d candidate tensors", "forget" if is_forget else "retain", len(images), len(names))
fn = forget_gradient if is_forget else retain_gradient
grads = fn(bundle.model, images, tokens, names, batch_size=p.batch_size)
atomic_torch_save(grads, snakemake.output[0])
