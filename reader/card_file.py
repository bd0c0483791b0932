"""Card images on disk: atomic saves (temp file, fsync, rename, fsync of the folder) so that a card
killed mid-save is the old card or the new one, never a broken one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from applets.card import CardStorage, VirtualCard
from applets.errors import ImageError, PowerLost
from applets.image import CardImage
from reader.errors import CardImageError


class FileStorage:
    """A card image file. `save` replaces it atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise CardImageError(f"{self.path}: no such card image") from None
        except OSError as e:
            raise CardImageError(f"{self.path}: cannot read ({e.strerror})") from None

    def save(self, image: bytes) -> None:
        write_atomically(self.path, image)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".ykt-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class TearingStorage:
    """Fault injection: the card loses power at its `tear_at_save`-th save (1-based), before the write
    reaches the inner storage or, with `after_write`, just after it."""

    def __init__(self, inner: CardStorage, tear_at_save: int | None = None, after_write: bool = False) -> None:
        self.inner = inner
        self.tear_at_save = tear_at_save
        self.after_write = after_write
        self.saves = 0

    def load(self) -> bytes:
        return self.inner.load()

    def save(self, image: bytes) -> None:
        self.saves += 1
        if self.saves == self.tear_at_save and not self.after_write:
            raise PowerLost(f"torn before save {self.saves}")
        self.inner.save(image)
        if self.saves == self.tear_at_save:
            raise PowerLost(f"torn after save {self.saves}")


def read_image(path: str | os.PathLike[str]) -> CardImage:
    """Load and check a card image file; errors name the file."""
    storage = FileStorage(path)
    try:
        return CardImage.from_bytes(storage.load())
    except ImageError as e:
        raise CardImageError(f"{path}: {e}") from None


def open_card_image(
    path: str | os.PathLike[str], entropy: Callable[[int], bytes] = os.urandom
) -> VirtualCard:
    """A virtual card that runs from an image file and saves back to it after every state change."""
    try:
        return VirtualCard(FileStorage(path), entropy)
    except ImageError as e:
        raise CardImageError(f"{path}: {e}") from None


def save_new_image(path: str | os.PathLike[str], image: CardImage, overwrite: bool = False) -> None:
    p = Path(path)
    if p.exists() and not overwrite:
        raise CardImageError(f"{p}: already exists (use --force to replace it)")
    p.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(p, image.to_bytes())
