"""The JSON Schemas shipped in ``tragen_runtime/schemas`` and a validator built from them."""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_SCHEMA = "tragen-config.schema.json"

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def schema_texts() -> dict[str, str]:
    """File name -> JSON text of every schema in the package."""
    folder = files("tragen_runtime").joinpath("schemas")
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }


@lru_cache(maxsize=1)
def load_schemas() -> dict[str, dict[str, Any]]:
    """File name -> parsed schema. Read once per process."""
    return {name: json.loads(text) for name, text in schema_texts().items()}


def section_keys() -> list[str]:
    """The section keys the document schema knows, in its order."""
    document = load_schemas()[DOCUMENT_SCHEMA]
    return list(document["properties"])


def _is_hostname(instance: object) -> bool:
    """RFC 1123 host name (jsonschema checks ``hostname`` only when ``fqdn`` is installed)."""
    if not isinstance(instance, str):
        return True
    name = instance[:-1] if instance.endswith(".") else instance
    if not name or len(name) > 253:
        return False
    return all(_HOSTNAME_LABEL.match(label) for label in name.split("."))


def format_checker() -> FormatChecker:
    """Draft 2020-12's format checker, plus ``hostname`` which it lacks without ``fqdn``."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    if "hostname" not in checker.checkers:
        checker.checks("hostname")(_is_hostname)
    return checker


@cache
def validator(schema_name: str = DOCUMENT_SCHEMA) -> Draft202012Validator:
    """A validator for one schema file, resolving ``$ref`` between the packaged files only."""
    schemas = load_schemas()
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in schemas.values()
    )
    return Draft202012Validator(
        schemas[schema_name], registry=registry, format_checker=format_checker()
    )
