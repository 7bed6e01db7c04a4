"""Joint unlearning of a set of concepts (rule `joint_unlearn_and_evaluate`): see slug.stages.joint."""
from slug.io import atomic_torch_save, atomic_write_text, write_json
from slug.core.joint import joint_page
from slug.clip.models import pick_device, save_state_dict
from slug.report.plots import cosine_plot
from slug.stages.joint import export_joint, unlearn_jointly
from slug.workflow import setup

p = snakemake.params
out = snakemake.output
log = setup(snakemake.log[0], snakemake.threads, p.seed)
res = unlearn_jointly(p.model, pick_device(p.device), snakemake.wildcards.joint_set, p.concepts, p.names,
                      snakemake.input.deltas, snakemake.input.selections, p.criterion, p.search_caps, p.eval_caps,
                      p.dirs, log, p.kinds)
save_state_dict(res.model, out.checkpoint)
atomic_torch_save(res.delta, out.delta)
export_joint(res, p.model, snakemake.wildcards.joint_set, p.concepts, p.kinds, dict(out.items()))
cosine_plot(res.cosine["before"], res.cosine["joint"], res.metrics["cosine_names"], out.cosine)
write_json(out.metrics, res.metrics)
atomic_write_text(out.report, joint_page(snakemake.wildcards.joint_set, p.concepts, p.names, res.layers,
                                         res.metrics["criterion"], res.interference, res.table, out.cosine))
