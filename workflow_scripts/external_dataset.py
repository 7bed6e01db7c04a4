"""Stop with instructions when an access-restricted dataset is missing (paper configs)."""
from pathlib import Path

from slug.workflow import setup

setup(snakemake.log[0])
missing = [p for p in snakemake.output if not Path(p).exists()]
raise SystemExit(
    "this dataset file must be provided by hand (its licence requires an access request):\n  "
    + "\n  ".join(missing)
    + f"\nCelebA: put img_align_celeba/, list_identity_celeba.txt ('image_id identity_name' lines after two "
    f"header lines) and frequent_celebs.txt under {snakemake.params.celeba}/.\n"
    f"ImageNet: put val/<wnid>/*.JPEG and LOC_synset_mapping.txt under {snakemake.params.imagenet}/.\n"
    "CC3M: download one shard with img2dataset (output_format webdataset) to the nonmember_shards path."
)
