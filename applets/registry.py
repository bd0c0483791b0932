"""The applications this card OS knows, by the name a DF carries in the card image."""

from __future__ import annotations

from applets.application import Application


def default_applications() -> dict[str, Application]:
    from applets.psam import PsamApplication
    from applets.purse import PurseApplication
    from applets.ssse import SocialSecurityApplication

    apps: list[Application] = [SocialSecurityApplication(), PurseApplication(), PsamApplication()]
    return {a.name: a for a in apps}
