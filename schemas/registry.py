"""Registering the pipeline's schemas and checking their compatibility, through the Confluent registry API.

Every subject is kept at BACKWARD compatibility (consumers on the new schema can read data written with the old
one, which is what replaying old topics needs). :func:`ensure_registered` refuses an incompatible change with the
registry's own verdict instead of registering it; :func:`codec_for` returns a codec whose schema id is resolved
once, at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from ops.connections import registry_config
from schemas.catalog import RecordSchema, subject_for
from schemas.codec import AvroCodec

__all__ = [
    "COMPATIBILITY",
    "RegistrationResult",
    "SchemaCompatibilityError",
    "codec_for",
    "ensure_registered",
    "lint_schema",
    "registry_client",
]

COMPATIBILITY = "BACKWARD"
_SUBJECT_NOT_FOUND = 40401


class SchemaCompatibilityError(Exception):
    """A schema change the registry refuses under the subject's compatibility level."""


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """What :func:`ensure_registered` found or did for one subject."""

    subject: str
    schema_id: int | None
    action: str  # "registered", "unchanged", "compatible (dry run)", "new subject (dry run)"


def registry_client(url: str) -> SchemaRegistryClient:
    """A client for the Confluent-compatible API at ``url``."""
    return SchemaRegistryClient(registry_config(url))


def lint_schema(schema: RecordSchema) -> list[str]:
    """Local rules every schema of ours keeps: it parses, has a namespace, and documents itself and each field."""
    problems: list[str] = []
    try:
        fastavro.parse_schema(schema.definition)
    except Exception as exc:  # fastavro raises several types for a bad schema
        return [f"{schema.file}: does not parse: {exc}"]

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict) and node.get("type") == "record":
            if "doc" not in node:
                problems.append(f"{schema.file}: record {where or node['name']} has no doc")
            for field in node.get("fields", []):
                if "doc" not in field:
                    problems.append(f"{schema.file}: field {where}{field['name']} has no doc")
                walk(field["type"], f"{where}{field['name']}.")
        elif isinstance(node, dict) and node.get("type") == "array":
            walk(node["items"], where)
        elif isinstance(node, list):
            for branch in node:
                walk(branch, where)

    if not schema.definition.get("namespace"):
        problems.append(f"{schema.file}: no namespace")
    walk(schema.definition, "")
    return problems


def _latest_id(client: SchemaRegistryClient, subject: str) -> int | None:
    try:
        return client.get_latest_version(subject).schema_id
    except SchemaRegistryError as exc:
        if exc.error_code == _SUBJECT_NOT_FOUND or exc.http_status_code == 404:
            return None
        raise


def ensure_registered(
    client: SchemaRegistryClient, schema: RecordSchema, topic: str, dry_run: bool = False
) -> RegistrationResult:
    """Register ``schema`` under ``topic``'s subject at BACKWARD compatibility, refusing an incompatible change."""
    subject = subject_for(topic)
    candidate = Schema(schema.text, "AVRO")
    if _latest_id(client, subject) is None:
        if dry_run:
            return RegistrationResult(subject, None, "new subject (dry run)")
        schema_id = client.register_schema(subject, candidate)
        client.set_compatibility(subject, COMPATIBILITY)
        return RegistrationResult(subject, schema_id, "registered")
    if client.get_compatibility(subject) != COMPATIBILITY and not dry_run:
        client.set_compatibility(subject, COMPATIBILITY)
    if not client.test_compatibility(subject, candidate):
        raise SchemaCompatibilityError(
            f"{schema.file} is not {COMPATIBILITY}-compatible with the latest version of subject {subject!r}: "
            "add fields with defaults, never remove or retype one (or publish to a new topic)"
        )
    if dry_run:
        return RegistrationResult(subject, None, "compatible (dry run)")
    try:
        existing = client.lookup_schema(subject, candidate)
        return RegistrationResult(subject, existing.schema_id, "unchanged")
    except SchemaRegistryError:
        return RegistrationResult(subject, client.register_schema(subject, candidate), "registered")


def codec_for(client: SchemaRegistryClient, schema: RecordSchema, topic: str) -> AvroCodec[Any]:
    """A codec for ``topic`` with its schema registered (or found) now, not per record."""
    result = ensure_registered(client, schema, topic)
    assert result.schema_id is not None
    return AvroCodec(schema, result.schema_id, lambda schema_id: client.get_schema(schema_id).schema_str or "")
