"""The template binder: a template is compiled once per locale into one Python function.

Templates use a subset of Microsoft's Adaptive Card Templating language:

- ``"${expr}"`` as a whole string keeps the bound value's type; inside a longer string every
  ``${expr}`` must be a string (numbers are never shown unformatted).
- ``"$data": "${list}"`` on an array item repeats it once per element, with that element as
  the scope; ``"$when": "${expr}"`` on an array item keeps it only when expr is true.
- ``expr`` is a path (``a.b``, ``$root.labels.x``) or ``empty(expr)``, ``not(expr)``,
  ``exists(expr)``.

Labels are known when a template is compiled for a locale, so every label binding is
resolved then, and a subtree left without bindings is built once: its value is shared by
all the cards rendered from the template (cards are read-only once rendered). What is left
becomes the source of one expression that builds the card with dict and list displays; it
calls back into small closures only to resolve paths and expand $data/$when items.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from include.cards.errors import Problem
from include.cards.files import load_json_object

_BINDING = re.compile(r"\$\{([^}]*)\}")
_PATH = re.compile(r"(\$root|[A-Za-z_]\w*)(\.[A-Za-z_]\w*)*")
_CALL = re.compile(r"(empty|not|exists)\((.*)\)")

_Bound = Callable[[Any, dict], Any]


@dataclass(frozen=True)
class _Const:
    """A compiled node whose value does not depend on the page data."""

    value: Any


@dataclass(frozen=True)
class _Code:
    """A compiled node: Python source of an expression over ``scope`` and ``root``."""

    source: str


@cache
def compiled_template(path: Path, locale: str) -> _Bound:
    compiler = _Compiler(load_json_object(path.parent / f"labels.{locale}.json"))
    return compiler.function(compiler.node(load_json_object(path), "", at_root=True))


class _Compiler:
    """Compiles one template for one locale; ``names`` holds what the generated source refers to."""

    def __init__(self, labels: dict) -> None:
        self.labels = labels
        self.names: dict[str, Any] = {}

    def name(self, value: Any) -> str:
        name = f"_v{len(self.names)}"
        self.names[name] = value
        return name

    def source(self, compiled: _Const | _Code) -> str:
        if isinstance(compiled, _Code):
            return compiled.source
        value = compiled.value
        return repr(value) if value is None or isinstance(value, (bool, int, str)) else self.name(value)

    def function(self, compiled: _Const | _Code) -> _Bound:
        if isinstance(compiled, _Const):
            return lambda scope, root: compiled.value
        return eval(f"lambda scope, root: {compiled.source}", {"__builtins__": {}, **self.names})

    def node(self, node: Any, where: str, at_root: bool) -> _Const | _Code:
        """A node that is not an array item: it can neither repeat nor disappear."""
        if isinstance(node, str):
            return self.string(node, where, at_root)
        if isinstance(node, list):
            return self.array(node, where, at_root)
        if isinstance(node, dict):
            if "$data" in node or "$when" in node:
                raise Problem(f"template {where or '/'}: $data/$when are only allowed on array items")
            fields = {key: self.node(value, f"{where}/{key}", at_root) for key, value in node.items()}
            if all(isinstance(field, _Const) for field in fields.values()):
                return _Const({key: field.value for key, field in fields.items()})
            return _Code("{" + ", ".join(f"{key!r}: {self.source(field)}" for key, field in fields.items()) + "}")
        return _Const(node)

    def array(self, node: list, where: str, at_root: bool) -> _Const | _Code:
        items = [self.item(item, f"{where}/{i}", at_root) for i, item in enumerate(node)]
        if all(isinstance(item, _Const) for item in items):
            return _Const([item.value for item in items])
        return _Code(
            "["
            + ", ".join(f"*{self.name(item)}(scope, root)" if callable(item) else self.source(item) for item in items)
            + "]"
        )

    def item(self, node: Any, where: str, at_root: bool) -> _Const | _Code | Callable[[Any, dict], list]:
        """An array item: one value, or with $data / $when a function returning the values it
        stands for: one per element of $data, kept where $when is true."""
        if not isinstance(node, dict) or ("$data" not in node and "$when" not in node):
            return self.node(node, where, at_root)
        in_data = "$data" in node
        body = self.function(
            self.node({k: v for k, v in node.items() if k not in ("$data", "$when")}, where, at_root and not in_data)
        )
        data = self.function(self.binding(node["$data"], f"{where}/$data", at_root)) if in_data else None
        when = (
            self.function(self.binding(node["$when"], f"{where}/$when", at_root and not in_data))
            if "$when" in node
            else None
        )

        def expand(scope: Any, root: dict) -> list:
            scopes = [scope] if data is None else data(scope, root)
            if isinstance(scopes, dict):
                scopes = [scopes]
            elif not isinstance(scopes, list):
                raise Problem(f"template {where}/$data: {node['$data']} is {scopes!r}, not a list or an object")
            bound = []
            for item_scope in scopes:
                if when is not None:
                    keep = when(item_scope, root)
                    if not isinstance(keep, bool):
                        raise Problem(f"template {where}/$when: {node['$when']} is {keep!r}, not true or false")
                    if not keep:
                        continue
                bound.append(body(item_scope, root))
            return bound

        return expand

    def binding(self, binding: Any, where: str, at_root: bool) -> _Const | _Code:
        if not isinstance(binding, str) or not _BINDING.fullmatch(binding):
            raise Problem(f"template {where}: expected a single ${{...}} binding, got {binding!r}")
        return self.string(binding, where, at_root)

    def string(self, text: str, where: str, at_root: bool) -> _Const | _Code:
        """A whole-string binding keeps the value's type; text around bindings needs string values."""
        matches = list(_BINDING.finditer(text))
        if not matches:
            return _Const(text)
        if len(matches) == 1 and matches[0].span() == (0, len(text)):
            return self.expression(matches[0].group(1).strip(), _Place(where, matches[0].group(0)), at_root)
        parts: list[_Const | _Code] = []
        position = 0
        for match in matches:
            parts.append(_Const(text[position : match.start()]))
            place = _Place(where, match.group(0))
            parts.append(self.text_only(self.expression(match.group(1).strip(), place, at_root), place))
            position = match.end()
        parts.append(_Const(text[position:]))
        if all(isinstance(part, _Const) for part in parts):
            return _Const("".join(part.value for part in parts))
        return _Code("(" + " + ".join(self.source(part) for part in parts) + ")")

    def text_only(self, compiled: _Const | _Code, place: _Place) -> _Const | _Code:
        def check(value: Any) -> str:
            if not isinstance(value, str):
                raise place.problem(f"is {value!r}, not text; bind a formatted '.text' or a label")
            return value

        if isinstance(compiled, _Const):
            return _Const(check(compiled.value))
        return _Code(f"{self.name(check)}({compiled.source})")

    def expression(self, expr: str, place: _Place, at_root: bool) -> _Const | _Code:
        call = _CALL.fullmatch(expr)
        if call:
            name, inner = call.group(1), self.expression(call.group(2).strip(), place, at_root)
            if name == "empty":
                apply = lambda value: value in (None, "", [], {})  # noqa: E731
            elif name == "exists":
                apply = lambda value: value is not None  # noqa: E731
            else:

                def apply(value: Any) -> bool:
                    if not isinstance(value, bool):
                        raise place.problem(f"not() needs true or false, got {value!r}")
                    return not value

            if isinstance(inner, _Const):
                return _Const(apply(inner.value))
            return _Code(f"{self.name(apply)}({inner.source})")
        if not _PATH.fullmatch(expr):
            raise place.problem("is an unsupported expression: use a path, empty(), not() or exists()")
        first, *rest = expr.split(".")
        from_root = first == "$root"
        segments = tuple(rest) if from_root else (first, *rest)

        def resolve(value: Any) -> Any:
            for segment in segments:
                try:
                    value = value[segment]
                except (KeyError, TypeError, IndexError):
                    raise place.problem(f"does not resolve: no {segment!r} in the data") from None
            return value

        if segments[:1] == ("labels",) and (from_root or at_root):
            return _Const(resolve({"labels": self.labels}))
        return _Code(f"{self.name(resolve)}({'root' if from_root else 'scope'})")


@dataclass(frozen=True)
class _Place:
    """Where a binding sits, for error messages: the template path and the binding's text."""

    where: str
    binding: str

    def problem(self, message: str) -> Problem:
        return Problem(f"template {self.where}: {self.binding} {message}")
