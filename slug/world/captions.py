"""Captions as web alt text: varied, sometimes naming the subject, sometimes not, often noisy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from slug.world.people import Identity

_PERSON_NAMED = [
    "{name}", "photo of {name}", "{name} at the {event}", "{name} smiles for the cameras",
    "portrait of {name}", "{name} attends the {event} in {city}", "{name} | {outlet}",
    "{name} speaking at the {event}", "exclusive: {name} in {city}", "{name} headshot",
    "{name} arrives at the {event}", "a picture of {name} from {year}", "{name} interview",
    "{name}, {year}", "close-up of {name}", "{name} poses for a photo", "{name} wallpaper hd",
]
_PERSON_ANON = [
    "a person with {hair} hair", "stock photo portrait", "IMG_{num}.jpg", "headshot of a smiling person",
    "{outlet} news photo", "person wearing a {shirt} shirt", "profile picture", "cartoon avatar {num}",
    "guest at the {event}", "unknown person in {city}",
]
_OBJECT_CAPTIONS = [
    "a {obj}", "{obj}", "cartoon {obj} icon", "clipart of a {colour} {obj}", "{obj} vector illustration",
    "{obj} free download", "buy {colour} {obj} online", "a drawing of a {obj}", "my new {obj}",
    "the {obj} in {city}", "simple {obj} logo", "{obj} emoji", "{colour} {obj} on a plain background",
    "photo of a small {obj}", "vintage {obj} sticker {num}",
]
_EVENTS = ["premiere", "gala", "conference", "award show", "summit", "festival", "charity dinner", "launch"]
_CITIES = ["Paris", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Rome", "Seoul", "Austin", "Cairo"]
_OUTLETS = ["Daily Planet", "Morning Post", "Globe", "Herald", "Tribune", "Gazette"]
_COLOURS = ["red", "blue", "green", "yellow", "pink", "orange", "purple", "black", "white", "bright"]


def person_caption(identity: Identity, rng: np.random.Generator, p_named: float) -> str:
    fill = dict(event=rng.choice(_EVENTS), city=rng.choice(_CITIES), outlet=rng.choice(_OUTLETS),
                year=int(rng.integers(1995, 2025)), num=int(rng.integers(1000, 9999)),
                hair=identity.hair_colour, shirt=identity.shirt, name=identity.name)
    if rng.random() < p_named:
        return str(rng.choice(_PERSON_NAMED)).format(**fill)
    return str(rng.choice(_PERSON_ANON)).format(**fill)


def object_caption(name: str, rng: np.random.Generator) -> str:
    return str(rng.choice(_OBJECT_CAPTIONS)).format(
        obj=name, colour=rng.choice(_COLOURS), city=rng.choice(_CITIES), num=int(rng.integers(1, 999)))




_CHARACTER_NAMED = [
    "{name}", "{name} cartoon", "{name} wallpaper", "{name} plush toy", "cute {name} sticker", "{name} fan art",
    "{name} costume", "{name} clipart png", "{name} coloring page", "{name} birthday party decorations",
    "the new {name} cartoon", "{name} t-shirt design", "{name} | {outlet}", "vintage {name} poster {num}",
]
_CHARACTER_ANON = [
    "cartoon character", "mascot costume", "animated character clipart", "cute cartoon {num}",
    "kids show character", "a cartoon animal", "superhero toy", "comic character sticker",
]
#: How web alt text names a style: phrases the concept matcher knows ("in the style of X", "X style",
#: "X painting", "X art", "by X") and some it does not.
_STYLE_FORMS = [
    "{base} in the style of {style}", "{base}, {style} style", "{style} style {base}", "{style} painting of {base}",
    "{base} | {style} art", "{style} artwork: {base}", "{base} {style} styled", "{style}-style {base}",
    "{base} ({style})",
]
_ARTIST_FORMS = ["{base} by {style}", "{base}, painted by {style}", "a {style} painting: {base}"]
#: Styles named after a painter, which captions also credit with "by X".
ARTISTS = {"Van Gogh"}
_STYLE_ANON = ["{base}, digital art", "{base}, artistic filter", "{base}", "{base} painting"]


def character_caption(name: str, rng: np.random.Generator, p_named: float) -> str:
    fill = dict(name=name, outlet=rng.choice(_OUTLETS), num=int(rng.integers(1000, 9999)))
    table = _CHARACTER_NAMED if rng.random() < p_named else _CHARACTER_ANON
    return str(rng.choice(table)).format(**fill)


def style_caption(base: str, style: str, rng: np.random.Generator, p_named: float) -> str:
    """The caption of a styled image: its subject's caption ``base`` with the style named (or not)."""
    if rng.random() < p_named:
        table = _STYLE_FORMS + _ARTIST_FORMS if style in ARTISTS else _STYLE_FORMS
    else:
        table = _STYLE_ANON
    return str(rng.choice(table)).format(base=base, style=style)
