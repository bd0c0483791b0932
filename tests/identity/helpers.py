"""Helpers for the identity tests: demo profiles and tampering with card images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from applets.fs import DF, EF
from applets.image import CardImage
from applets.personalize import HolderProfile
from applets.ssse import SSSE_AID
from reader.card_file import read_image, save_new_image
from terminal.issuer import demo_profile_paths, issue_image, load_profile

TODAY = date(2026, 6, 1)


def profile(name: str) -> HolderProfile:
    return load_profile(next(p for p in demo_profile_paths() if p.stem == name))


def ssse(image: CardImage) -> DF:
    df = image.mf.find_by_name(SSSE_AID)
    assert df is not None
    return df


def ef(image: CardImage, fid: int) -> EF:
    node = ssse(image).child(fid)
    assert isinstance(node, EF)
    return node


def edit_image(path: Path, change: Callable[[CardImage], None]) -> None:
    image = read_image(path)
    change(image)
    save_new_image(path, image, overwrite=True)


def issue_variant(tmp: Path, name: str, **card_changes: object) -> Path:
    """A demo holder's card with some EF05 fields changed (e.g. region)."""
    p = profile(name)
    variant = replace(p, card=replace(p.card, **card_changes))
    path = tmp / f"{name}-variant.card.json"
    save_new_image(path, issue_image(variant))
    return path
