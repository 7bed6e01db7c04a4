"""Stop with instructions when an access-restricted dataset is missing (paper configs)."""
from pathlib import Path

from slug.workflow import setup

setup(snakemake.log[0])
missing = [p for p in snakemake.output if not Path(p).exists()]
raise SystemExit(
    "this dataset file must be provided by hand (its licence requires an access request):\n  "
    + "\n  ".join(missing)
    + "\n" + snakemake.params.where
)
