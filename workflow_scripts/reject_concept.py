"""Refuse a target whose concept id is ill-formed (rule `reject_ill_formed_concept`)."""
from slug.concepts import check_concept_id
from slug.workflow import setup

setup(snakemake.log[0])
check_concept_id(snakemake.wildcards.bad_concept)  # raises with the name and the fix
raise SystemExit(f"concept id {snakemake.wildcards.bad_concept!r} was not refused by check_concept_id")
