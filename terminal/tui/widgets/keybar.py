"""The key bar: Textual's Footer with every binding description taken from the i18n catalog."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyBar(Footer):
    """Shows the active bindings; a description that is a catalog key (`key.pay`) is translated."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        shown = []
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if binding.action in ("request_quit", "open_settings") and getattr(self.app, "kiosk_locked", False):
                continue  # the kiosk is left through the supervisor only
            seen.add(binding.action)
            shown.append((binding, enabled, tooltip))
        self.styles.grid_size_columns = max(1, len(shown))
        t = getattr(self.app, "t", lambda key: key)
        for binding, enabled, tooltip in shown:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                t(binding.description) if binding.description else "",
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)

    def on_mount(self) -> None:
        # A screen that re-composes itself (language switch, new results) gets a new key bar: show the
        # bindings at once instead of waiting for the next focus change.
        self.call_after_refresh(self.bindings_changed, self.screen)
