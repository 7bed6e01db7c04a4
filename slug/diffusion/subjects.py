"""The generator's subjects: the identities (concepts first) and objects it is trained or prompted on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

log = logging.getLogger("slug")


@dataclass
class Subjects:
    """The generator's vocabulary: identities (the concepts first) and object classes."""

    identities: list[str]
    objects: list[str]

    @property
    def chance_identity(self) -> float:
        return 1.0 / len(self.identities)

    @property
    def chance_object(self) -> float:
        return 1.0 / len(self.objects)


def choose_subjects(all_identities: Sequence[str], targets: Sequence[str], n_identities: int,
                    all_objects: Sequence[str], n_objects: int) -> Subjects:
    missing = [t for t in targets if t not in all_identities]
    if missing:
        raise ValueError(f"concept(s) {missing} are not identities of the demo world "
                         f"({len(all_identities)} names, e.g. {list(all_identities)[:3]}): check the concepts table")
    ids = list(dict.fromkeys([*targets, *all_identities]))[:max(n_identities, len(targets))]
    return Subjects(ids, list(all_objects)[:n_objects])


def resolve_subjects(cfg: dict, concept_names: Sequence[str], world_identities: Sequence[str] | None) -> Subjects:
    """The generator's identities/objects from ``diffusion.identities``/``objects`` (lists, or counts of the
    demo world's subjects with the concepts first)."""
    from slug.world import OBJECT_CLASSES

    ids, objs = cfg["identities"], cfg["objects"]
    if isinstance(ids, int) or isinstance(objs, int):
        if world_identities is None:
            raise ValueError("diffusion.identities / diffusion.objects given as counts need the demo world; "
                             "for real models list the names (e.g. diffusion.identities: [Elon Musk, ...])")
    world_objs = [v[0] for v in OBJECT_CLASSES.values()]
    if isinstance(ids, int):
        s = choose_subjects(list(world_identities), list(concept_names), ids, world_objs, 1)
        ids = s.identities
    if isinstance(objs, int):
        objs = world_objs[:objs]
    return require_concepts(Subjects(list(ids), list(objs)), concept_names)


def require_concepts(subjects: Subjects, concept_names: Sequence[str]) -> Subjects:
    """``subjects``, if every concept is one of its identities (else a ValueError naming the setting)."""
    missing = [c for c in concept_names if c not in subjects.identities]
    if missing:
        raise ValueError(f"concept(s) {missing} missing from diffusion.identities {list(subjects.identities)}: every "
                         "concept must be one of the generator's identities (its recognition rate is measured among "
                         "them); add it to diffusion.identities")
    return subjects


