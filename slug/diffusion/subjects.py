"""The generator's subjects: what the text-to-image model is trained on or prompted with, per kind.

A Stable Diffusion concept is a subject of one kind: a person (an identity), an object, a character or a
style (an object drawn "in {style} style"). Each kind is one recognition task of the generated images
(:func:`slug.clip.evaluation.tasks.generation_tasks`): a person among the generator's identities, an
object among its objects, a character among its characters *and* identities, a style among its styles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from slug.concepts import KINDS  # the kinds a generator's subjects come in

log = logging.getLogger("slug")

#: Each kind's config key that lists (or counts) its subjects.
SETTING = {"person": "identities", "object": "objects", "character": "characters", "style": "styles"}


@dataclass
class Subjects:
    """The generator's vocabulary: identities (the concepts first), object classes, characters and styles."""

    identities: list[str]
    objects: list[str]
    characters: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[str]:
        """The subjects of one kind."""
        if kind not in SETTING:
            raise ValueError(f"unknown subject kind {kind!r} (kinds: {list(KINDS)})")
        return getattr(self, SETTING[kind])

    def kind_of(self, name: str) -> str:
        """The kind of a subject (a name may be one kind only)."""
        for kind in KINDS:
            if name in self.of(kind):
                return kind
        raise ValueError(f"{name!r} is none of the generator's subjects")

    def tasks(self):
        """The recognition tasks of generated images (:func:`slug.clip.evaluation.tasks.generation_tasks`)."""
        from slug.clip.evaluation.tasks import generation_tasks

        return generation_tasks(self.identities, self.objects, self.characters, self.styles)

    def chance(self, kind: str) -> float:
        """The chance rate of a subject of ``kind`` within its task (a character: among characters and identities)."""
        from slug.concepts import KIND_TASKS

        (t,) = [t for t in self.tasks() if t.name == KIND_TASKS[kind]]
        return 1.0 / len(t.classnames)

    @property
    def chance_identity(self) -> float:
        return 1.0 / len(self.identities)

    @property
    def chance_object(self) -> float:
        return 1.0 / len(self.objects)

    def record(self) -> dict[str, list[str]]:
        """What ``train.json`` keeps of the subjects."""
        return {SETTING[k]: list(self.of(k)) for k in KINDS}

    @classmethod
    def from_record(cls, info: Mapping) -> "Subjects":
        """The subjects ``sd_train`` recorded (a record older than characters and styles has neither)."""
        return cls(list(info["identities"]), list(info["objects"]), list(info.get("characters", [])),
                   list(info.get("styles", [])))


Concepts = Mapping[str, Sequence[str]]  # {kind: [display names]}


def as_concepts(concepts: Concepts | Sequence[str]) -> dict[str, list[str]]:
    """``{kind: names}`` from a mapping, or from a plain list of names (people)."""
    if isinstance(concepts, Mapping):
        return {k: list(v) for k, v in concepts.items() if v}
    return {"person": list(concepts)} if concepts else {}


def choose_subjects(all_identities: Sequence[str], targets: Sequence[str], n_identities: int,
                    all_objects: Sequence[str], n_objects: int) -> Subjects:
    """The first ``n_identities`` identities with the targets first, and the first ``n_objects`` objects."""
    return Subjects(_first(all_identities, targets, n_identities, "person"), list(all_objects)[:n_objects])


def _first(world: Sequence[str], targets: Sequence[str], n: int, kind: str) -> list[str]:
    """The concepts of one kind first, then the world's next subjects of that kind, ``n`` in all."""
    missing = [t for t in targets if t not in world]
    if missing:
        raise ValueError(f"concept(s) {missing} are not {SETTING[kind]} of the demo world ({len(world)} names, e.g. "
                         f"{list(world)[:3]}): check the concepts table")
    return list(dict.fromkeys([*targets, *world]))[:max(n, len(targets))]


def resolve_subjects(cfg: dict, concepts: Concepts | Sequence[str],
                     world: Mapping[str, Sequence[str]] | Sequence[str] | None) -> Subjects:
    """The generator's subjects from ``diffusion.identities`` / ``objects`` / ``characters`` / ``styles``: a list is
    the whole cast; a count takes the demo world's subjects of that kind, the concepts of that kind first
    (0: none of that kind). ``world``: ``{kind: names}`` of the demo world (a plain list: its identities);
    None for a real model, whose cast must be listed."""
    from slug.world import OBJECT_CLASSES

    want = as_concepts(concepts)
    if world is not None and not isinstance(world, Mapping):
        world = {"person": list(world)}
    if world is not None:
        world = {"object": [v[0] for v in OBJECT_CLASSES.values()], **world}
    lists = {}
    for kind in KINDS:
        value = cfg.get(SETTING[kind], 0)
        if isinstance(value, int):
            if value and world is None:
                raise ValueError(f"diffusion.{SETTING[kind]} given as a count needs the demo world; for real models "
                                 f"list the names (e.g. diffusion.identities: [Elon Musk, ...]) or set it to 0")
            lists[kind] = _first(world.get(kind, []), want.get(kind, []), value, kind) if value else []
        else:
            lists[kind] = list(value)
    return require_concepts(Subjects(lists["person"], lists["object"], lists["character"], lists["style"]), want)


def require_concepts(subjects: Subjects, concepts: Concepts | Sequence[str]) -> Subjects:
    """``subjects``, if every concept is one of its subjects of the concept's kind (else a ValueError naming
    the setting)."""
    for kind, names in as_concepts(concepts).items():
        missing = [c for c in names if c not in subjects.of(kind)]
        if missing:
            key = SETTING[kind]
            raise ValueError(f"concept(s) {missing} missing from diffusion.{key} {list(subjects.of(kind))}: every "
                             f"concept must be one of the generator's {key} (its recognition rate is measured among "
                             f"them); add it to diffusion.{key}")
    return subjects
