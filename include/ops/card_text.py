"""An Adaptive Card as it reads, in a terminal: a generic rendering of a stored card with rich.

For ``acp cards``: what a sales manager reads in Teams, without Teams. It knows the card
elements, not any scenario, and works on stored cards (templates already expanded: no
``$when`` / ``$data`` left):

- ``TextBlock`` → its text (Bolder / Large / heading bold, isSubtle dim, colours);
  ``RichTextBlock`` → its runs;
- ``FactSet`` → title / value pairs;
- ``Table`` → a table (first row as its header unless ``firstRowAsHeader`` is false);
- ``ColumnSet`` → its columns side by side, and consecutive list rows (ColumnSets of as many
  columns, alone or each in its own Container) in one grid whose columns line up;
  ``Container``, ``Column``, ``TableCell`` → their items;
- ``Image`` → ``[image: alt text]``; ``ActionSet`` and the card's ``actions`` → one line per
  action: ``[title] → page_id (key)`` for ``Action.Execute`` ``open_page``, ``[title] → url``
  for ``Action.OpenUrl``; a ``selectAction`` (a clickable element) → ``→ page_id (key)``
  under what it makes clickable;
- ``isVisible: false`` elements are left out; an unknown element shows its ``fallback`` or
  ``[unknown element Type]``; ``separator`` draws a rule.

Every text from a card (or anywhere else outside this code) is shown literally: ``plain``
builds rich ``Text`` objects, never markup, so ``[red]x[/red]`` or ``:smile:`` print as they
are, and control characters (a terminal escape sequence in a code from T2A) print as
``\\x1b``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

# C0 controls but newline and tab, DEL, C1 controls: shown, never sent to the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_COLORS = {"attention": "red", "good": "green", "warning": "yellow", "accent": "cyan"}
_JUSTIFY = {"left": "left", "center": "center", "right": "right"}
LINK_STYLE = "cyan"


def plain(value: Any, style: str = "") -> Text:
    """``value`` as literal text: no markup, no emoji codes, control characters made visible."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text), style=style)


def render_card(card: dict[str, Any], *, title: str | None = None, width: int | None = None) -> RenderableType:
    """The card in a box: its body, then its actions; ``title`` on the box's top edge."""
    parts = _elements(card.get("body") or [])
    actions = card.get("actions") or []
    if actions:
        parts += [Rule(style="dim"), *(_action_line(a) for a in actions if isinstance(a, dict))]
    return Panel(
        Group(*parts) if parts else plain("(empty card)", "dim"),
        title=plain(title) if title else None,
        title_align="left",
        box=box.ROUNDED,
        width=width,
        padding=(0, 1),
    )


def action_target(action: dict[str, Any]) -> Text:
    """Where an action goes: ``page_id (key)``, a URL, or what kind of action it is."""
    kind, data = action.get("type"), action.get("data")
    if kind == "Action.Execute" and action.get("verb") == "open_page" and isinstance(data, dict):
        target = plain(data.get("page_id"))
        if data.get("key") is not None:
            target.append_text(plain(f" ({data['key']})"))
        return target
    if kind == "Action.OpenUrl":
        return plain(action.get("url"))
    if kind in ("Action.Execute", "Action.Submit"):
        verb = f"{action['verb']} " if action.get("verb") else ""
        return plain(f"{kind.removeprefix('Action.').lower()} {verb}{json.dumps(data, ensure_ascii=False)}")
    if kind == "Action.ToggleVisibility":
        return plain("toggle visibility")
    return plain(str(kind))


def _action_line(action: dict[str, Any]) -> RenderableType:
    line = Text.assemble(plain("["), plain(action.get("title") or "", "bold"), plain("]"))
    if action.get("type") == "Action.ShowCard" and isinstance(action.get("card"), dict):
        line.append_text(plain(" ▾", LINK_STYLE))
        return Group(line, Padding(Group(*_elements(action["card"].get("body") or [])), (0, 0, 0, 2)))
    target = action_target(action)
    target.stylize(LINK_STYLE)
    return Text.assemble(line, plain(" → ", LINK_STYLE), target)


def _select_line(action: dict[str, Any]) -> Text:
    """The line under an element a reader can click (its selectAction)."""
    line = plain("→ ", LINK_STYLE)
    if action.get("title"):
        line = Text.assemble(line, plain("["), plain(action["title"], "bold"), plain("] "))
    target = action_target(action)
    target.stylize(LINK_STYLE)
    return Text.assemble(line, target)


def _elements(items: list[Any]) -> list[RenderableType]:
    """Rendered items; a run of rows of the same width (see ``_row``) becomes one aligned grid."""
    out: list[RenderableType] = []
    run: list[tuple[list[dict], dict | None]] = []

    def flush() -> None:
        if run:
            out.append(_rows(run))
            run.clear()

    for element in items:
        if not isinstance(element, dict) or element.get("isVisible") is False:
            continue
        row = _row(element)
        if row and run and (len(row[0]) != len(run[0][0]) or element.get("separator")):
            flush()
        if element.get("separator") and (out or run):
            flush()
            out.append(Rule(style="dim"))
        if row:
            run.append(row)
            continue
        flush()
        rendered = _element(element)
        if rendered is not None:
            out.append(rendered)
    flush()
    return out


def _row(element: dict[str, Any]) -> tuple[list[dict], dict | None] | None:
    """(columns, selectAction) of a list row: a ColumnSet of two or more columns, or a
    Container holding only that; None for anything else."""
    select = element.get("selectAction") if isinstance(element.get("selectAction"), dict) else None
    if element.get("type") == "Container":
        items = [i for i in element.get("items") or [] if isinstance(i, dict) and i.get("isVisible") is not False]
        if len(items) != 1 or items[0].get("type") != "ColumnSet" or (select and items[0].get("selectAction")):
            return None
        inner = _row(items[0])
        return (inner[0], select or inner[1]) if inner else None
    if element.get("type") != "ColumnSet":
        return None
    columns = [c for c in element.get("columns") or [] if isinstance(c, dict) and c.get("isVisible") is not False]
    return (columns, select) if len(columns) >= 2 else None


def _rows(rows: list[tuple[list[dict], dict | None]]) -> Table:
    """Rows of columns in one grid, so their columns line up; a row's link in a last column."""
    links = any(select for _, select in rows)
    grid = Table.grid(padding=(0, 2))
    for _ in range(len(rows[0][0]) + links):
        grid.add_column()
    for columns, select in rows:
        cells = [_element(column) or Text() for column in columns]
        grid.add_row(*cells, *([_select_line(select) if select else Text()] if links else []))
    return grid


def _element(element: dict[str, Any]) -> RenderableType | None:
    kind = element.get("type")
    render = _RENDERERS.get(kind)
    if render is None:
        fallback = element.get("fallback")
        if isinstance(fallback, dict):
            return _element(fallback)
        if fallback == "drop":
            return None
        return plain(f"[unknown element {kind}]", "dim")
    rendered = render(element)
    select = element.get("selectAction")
    if isinstance(select, dict):
        rendered = Group(rendered, _select_line(select))
    return rendered


def _text_style(element: dict[str, Any]) -> str:
    styles = []
    if (
        str(element.get("weight", "")).lower() == "bolder"
        or str(element.get("size", "")).lower() in ("large", "extralarge")
        or str(element.get("style", "")).lower() == "heading"
    ):
        styles.append("bold")
    if element.get("isSubtle"):
        styles.append("dim")
    color = _COLORS.get(str(element.get("color", "")).lower())
    if color:
        styles.append(color)
    return " ".join(styles)


def _text_block(element: dict[str, Any]) -> Text:
    text = plain(element.get("text"), _text_style(element))
    text.justify = _JUSTIFY.get(str(element.get("horizontalAlignment", "")).lower())
    return text


def _rich_text_block(element: dict[str, Any]) -> Text:
    text = Text(justify=_JUSTIFY.get(str(element.get("horizontalAlignment", "")).lower()))
    for inline in element.get("inlines") or []:
        if isinstance(inline, str):
            text.append_text(plain(inline))
        elif isinstance(inline, dict):
            style = _text_style(inline)
            if inline.get("italic"):
                style += " italic"
            if inline.get("strikethrough"):
                style += " strike"
            text.append_text(plain(inline.get("text"), style.strip()))
    return text


def _fact_set(element: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=False)
    grid.add_column()
    for fact in element.get("facts") or []:
        if isinstance(fact, dict):
            grid.add_row(plain(fact.get("title"), "bold"), plain(fact.get("value")))
    return grid


def _items(element: dict[str, Any]) -> RenderableType:
    return Group(*_elements(element.get("items") or []))


def _column_set(element: dict[str, Any]) -> Table:
    columns = [c for c in element.get("columns") or [] if isinstance(c, dict) and c.get("isVisible") is not False]
    grid = Table.grid(padding=(0, 2))
    for _ in columns:
        grid.add_column()
    grid.add_row(*(_element(column) or Text() for column in columns))
    return grid


def _table(element: dict[str, Any]) -> Table:
    columns = element.get("columns") or []
    rows = [r for r in element.get("rows") or [] if isinstance(r, dict)]
    header = element.get("firstRowAsHeader", True) and bool(rows)
    width = max([len(columns), *(len(r.get("cells") or []) for r in rows)])
    table = Table(box=box.SIMPLE_HEAD, show_header=header, show_edge=False, padding=(0, 1), pad_edge=False)
    default = element.get("horizontalCellContentAlignment")
    for i in range(width):
        column = columns[i] if i < len(columns) and isinstance(columns[i], dict) else {}
        align = str(column.get("horizontalCellContentAlignment") or default or "left").lower()
        table.add_column(
            _cell(rows[0]["cells"][i]) if header and i < len(rows[0].get("cells") or []) else "",
            justify=_JUSTIFY.get(align, "left"),
        )
    for row in rows[1:] if header else rows:
        cells = [_cell(cell) for cell in row.get("cells") or []]
        cells += [Text()] * (width - len(cells))
        select = row.get("selectAction")
        if isinstance(select, dict):
            cells[-1] = Group(cells[-1], _select_line(select))
        table.add_row(*cells)
    return table


def _cell(cell: Any) -> RenderableType:
    return (_element(cell) or Text()) if isinstance(cell, dict) else Text()


def _image(element: dict[str, Any]) -> Text:
    return plain(f"[image: {element.get('altText') or element.get('url') or ''}]", "dim")


def _image_set(element: dict[str, Any]) -> Text:
    images = [i for i in element.get("images") or [] if isinstance(i, dict)]
    return Text(" ").join(_image(i) for i in images)


def _action_set(element: dict[str, Any]) -> Group:
    return Group(*(_action_line(a) for a in element.get("actions") or [] if isinstance(a, dict)))


def _input(element: dict[str, Any]) -> Text:
    label = element.get("label") or element.get("placeholder") or element.get("id") or ""
    return plain(f"[{element.get('type', 'Input').removeprefix('Input.').lower()} input: {label}]", "dim")


_RENDERERS = {
    "TextBlock": _text_block,
    "RichTextBlock": _rich_text_block,
    "FactSet": _fact_set,
    "Container": _items,
    "Column": _items,
    "TableCell": _items,
    "ColumnSet": _column_set,
    "Table": _table,
    "Image": _image,
    "ImageSet": _image_set,
    "ActionSet": _action_set,
    **{f"Input.{kind}": _input for kind in ("Text", "Number", "Date", "Time", "Toggle", "ChoiceSet")},
}
