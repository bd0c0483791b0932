"""`ykt card …`: issue, inspect, list, read and serve virtual cards."""

from __future__ import annotations

import signal
from datetime import date

import click

from applets.fs import DF, EF, Structure
from applets.holder import CardInfo, HolderInfo, ssn_check_digit
from applets.personalize import HolderProfile
from reader.card_file import open_card_image, read_image
from terminal.cardread import read_card
from terminal.cli.options import ask_pin, connected_reader, reader_options
from terminal.demo import cards_dir, ensure_demo_cards, resolve_card
from terminal.issuer import issue_card, load_profile


@click.group()
def card() -> None:
    """Virtual cards: issue, show, list, read, and serve them to pcscd."""


@card.command("new")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--profile", type=click.Path(exists=True, dir_okay=False), help="Holder profile TOML (see data/cards/).")
@click.option("--name", help="Holder name (GBK-encodable).")
@click.option("--ssn", help="18-character citizen ID; a 17-digit value gets its check digit added.")
@click.option("--sex", type=click.Choice(["1", "2"]), default="1", show_default=True, help="1 male, 2 female.")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (default: from the SSN).")
@click.option("--region", default="310000", show_default=True, help="6-digit insured region code.")
@click.option("--card-number", default="A00000099", show_default=True, help="9-character card number.")
@click.option("--serial", default="3100000000000099", show_default=True, help="8-byte card serial, hex.")
@click.option("--expiry", type=click.DateTime(["%Y-%m-%d"]), help="Expiry date (default: 10 years from today).")
@click.option("--pin", default="123456", show_default=True, help="Initial PIN (TEST cards only).")
@click.option("--ef06-needs-pin", is_flag=True, help="Holder record EF06 readable only after VERIFY.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def card_new(output: str, profile: str | None, name: str | None, ssn: str | None, sex: str, birth_date: date | None,
             region: str, card_number: str, serial: str, expiry: date | None, pin: str, ef06_needs_pin: bool, force: bool) -> None:
    """Issue a new virtual card image from a profile file or from options.

    \b
    Examples:
      ykt card new me.card.json --profile data/cards/zhang-wei.toml
      ykt card new test.card.json --name 张三 --ssn 11010519491231002 --pin 654321
    """
    if profile:
        holder_profile = load_profile(profile)
    else:
        if not name or not ssn:
            raise click.UsageError("give --profile FILE, or at least --name and --ssn")
        if len(ssn) == 17:
            ssn += ssn_check_digit(ssn)
        today = date.today()
        born = birth_date.date() if birth_date else date(int(ssn[6:10]), int(ssn[10:12]), int(ssn[12:14]))
        until = expiry.date() if expiry else today.replace(year=today.year + 10)
        try:
            holder_profile = HolderProfile(
                label=f"{name} (issued by ykt card new)",
                card=CardInfo(region, bytes.fromhex(serial), "1", "3.00", f"{region}000001", today, until, card_number),
                holder=HolderInfo(ssn, name, sex, 1, ssn[:6], born),
                pin=pin,
                ef06_needs_pin=ef06_needs_pin,
            )
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    image = issue_card(holder_profile, output, overwrite=force)
    click.echo(f"issued {output}: {image.label}")


def _tree(node: DF | EF, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(node, DF):
        name = f" name {node.name.hex().upper()}" if node.name else ""
        app = f" [{node.application}]" if node.application else ""
        lines = [f"{pad}DF {node.fid:04X}{name}{app}"]
        for c in node.children:
            lines += _tree(c, depth + 1)
        return lines
    size = f"{len(node.data)} bytes" if node.structure is Structure.TRANSPARENT else f"{len(node.records)} records"
    sfi = f" SFI {node.sfi:02X}" if node.sfi is not None else ""
    return [f"{pad}EF {node.fid:04X}{sfi} {node.structure.value}, {size}, read {node.read.value}, write {node.write.value}"]


@card.command("show")
@click.argument("image", type=click.Path(dir_okay=False))
def card_show(image: str) -> None:
    """Show a card image: label, ATR, PIN tries, applications and files (never keys or the PIN).

    \b
    Example:
      ykt card show ~/.local/share/yikatong/cards/zhang-wei.card.json
    """
    img = read_image(image)
    click.echo(f"{image}: {img.label}")
    click.echo(f"ATR        {img.atr.hex().upper()}")
    click.echo(f"PIN        {img.pin.tries_left} of {img.pin.max_tries} tries left{' (BLOCKED)' if img.pin.blocked else ''}")
    click.echo(f"keys       {len(img.keys)} TEST keys ({', '.join(sorted(img.keys))})")
    for line in _tree(img.mf):
        click.echo(line)


@card.command("list")
def card_list() -> None:
    """List the demo cards (issued into the terminal's home on first use).

    \b
    Example:
      ykt card list
    """
    for path in ensure_demo_cards():
        img = read_image(path)
        click.echo(f"{path.name.removesuffix('.card.json'):<14} {img.label}")
    click.echo(f"(images in {cards_dir()})")


@card.command("read")
@reader_options
@click.option("--pin", "ask_pin_flag", is_flag=True, help="Ask for the PIN and VERIFY it (needed when EF06 is PIN-protected).")
def card_read(reader_name: str | None, card: str | None, trace_path: str | None, ask_pin_flag: bool) -> None:
    """Select SSSE, read EF05/EF06 and print the holder (masked).

    \b
    Examples:
      ykt card read --card zhang-wei
      ykt card read --reader "Virtual PCD 00 00" --pin
    """
    pin = ask_pin() if ask_pin_flag else None
    with connected_reader(reader_name, card, trace_path) as reader:
        result = read_card(reader, pin)
    c = result.card
    click.echo(f"card number   {c.card_number}")
    click.echo(f"region        {c.region}")
    click.echo(f"issued        {c.issue_date.isoformat()}   expires {c.expiry_date.isoformat()}")
    if result.holder is None:
        click.echo("holder        (EF06 needs the PIN: use --pin)")
        return
    h = result.holder
    click.echo(f"name          {h.masked_name}")
    click.echo(f"SSN           {h.masked_ssn}")
    click.echo(f"sex           {'male' if h.sex == '1' else 'female'}")
    click.echo(f"born          {h.birth_date.year}")


@card.command("serve")
@click.argument("image", metavar="IMAGE|DEMO")
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 9), help="vpcd slot (port 35963 + slot).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where pcscd's vpcd listens.")
@click.option("--port", type=int, help="vpcd port (default 35963 + slot).")
def card_serve(image: str, slot: int, host: str, port: int | None) -> None:
    """Insert a card image into pcscd through vsmartcard's vpcd driver until Ctrl-C / SIGTERM.

    The card's state is saved after every state-changing APDU. Any PC/SC program then sees it, e.g.
    `opensc-tool -r "Virtual PCD 00 00" -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF`.

    \b
    Examples:
      ykt card serve zhang-wei --slot 0
      ykt card serve ~/.local/share/yikatong/cards/zhang-wei.card.json --slot 0
    """
    from reader.vpcd import VpcdBridge

    path = resolve_card(image)  # an image path, or a demo card name
    virtual = open_card_image(path)
    bridge = VpcdBridge(virtual, slot, host=host, port=port)
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop())
    signal.signal(signal.SIGINT, lambda *_: bridge.stop())
    click.echo(f"serving {path} on vpcd {host}:{bridge.port} (slot {slot}); Ctrl-C to remove the card", err=True)
    try:
        bridge.serve_forever()
    finally:
        bridge.close()
    click.echo("card removed", err=True)
