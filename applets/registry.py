"""The applications this card OS knows, by the name a DF carries in the card image."""

from __future__ import annotations

from applets.application import Application


def default_applications() -> dict[str, Application]:
    from applets.ssse import SocialSecurityApplication

    apps: list[Application] = [SocialSecurityApplication()]
    return {a.name: a for a in apps}
