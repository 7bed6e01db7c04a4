"""The workflow's stages as library functions: each loads what its rule reads, runs the algorithm and
returns (or writes, atomically) what the rule outputs. ``workflow_scripts/`` only read ``snakemake.*``
and call one of these, so every decision a stage makes is tested here, without a Snakemake run.

Modules by family: ``clip`` (SLUG's search and the before/after evaluation), ``diffusion`` (the demo
UNet's training, the text-encoder edit's search and the generation evaluation), ``baselines`` (one
comparison method on one concept; the averaged comparison page), ``joint`` (several concepts at once).
"""
