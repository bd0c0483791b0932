"""The embedded default: demo cards issued from data/cards/*.toml into the terminal's home."""

from __future__ import annotations

import os
from pathlib import Path

from reader.card_file import save_new_image
from terminal.errors import ProfileError
from terminal.issuer import demo_profile_paths, issue_image, load_profile, load_test_keys
from terminal.paths import default_home


DEMO_PSAM = "psam"  # the demo PSAM image: cards/psam.card.json in the terminal's home


def cards_dir(home: Path | None = None) -> Path:
    return (home or default_home()) / "cards"


def ensure_demo_cards(home: Path | None = None) -> list[Path]:
    """Issue every demo holder's card image that is not there yet; returns all demo image paths.
    Existing images are kept, so balances and PIN counters persist between runs."""
    folder = cards_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    keys = None
    for profile_path in demo_profile_paths():
        image = folder / f"{profile_path.stem}.card.json"
        if not image.exists():
            keys = keys or load_test_keys()
            save_new_image(image, issue_image(load_profile(profile_path), keys))
        out.append(image)
    return out


def demo_psam_path(home: Path | None = None) -> Path:
    """The demo PSAM image in the terminal's home, issued with the TEST purchase masters on first use."""
    path = cards_dir(home) / f"{DEMO_PSAM}.card.json"
    if not path.exists():
        from applets.purse.personalize import PurseMasterKeys, personalize_psam

        masters = PurseMasterKeys.from_extra(load_test_keys().extra)
        if masters is None:
            raise ProfileError("the TEST key file has no purse master keys")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_new_image(path, personalize_psam(masters.purchase, os.urandom))
    return path


def resolve_card(name_or_path: str, home: Path | None = None) -> Path:
    """A card image path, or the name of a demo card (e.g. `zhang-wei`) in the terminal's home."""
    p = Path(name_or_path)
    if p.suffix or p.exists() or "/" in name_or_path:
        return p
    for image in ensure_demo_cards(home):
        if image.name == f"{name_or_path}.card.json":
            return image
    return p
