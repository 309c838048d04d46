"""Client configuration for Kafka (librdkafka and aiokafka) and the schema registry, security included.

The security settings (SASL/SSL for Kafka, basic auth/TLS for the registry) come from :mod:`ops.config` once per
process: :func:`use` is called by the CLI entry point, and every client built anywhere takes its configuration
from :func:`kafka_config`, :func:`aiokafka_options` or :func:`registry_config`, so no call site can forget it.
Secrets stay :class:`~ops.config.Secret` until the very dict handed to the client library.
"""

from __future__ import annotations

import ssl
from typing import Any

from ops.config import KafkaSecurity, RegistrySecurity, Settings

__all__ = ["REGISTRY_TIMEOUT_S", "aiokafka_options", "kafka_config", "registry_config", "use"]

_kafka = KafkaSecurity()
_registry = RegistrySecurity()

REGISTRY_TIMEOUT_S = 30.0
"""Per-request timeout of registry calls: a registry that stops answering fails the call (after the client's
retries) instead of blocking the caller forever."""


def use(settings: Settings) -> None:
    """Make ``settings``' security the one every client of this process uses."""
    global _kafka, _registry
    _kafka, _registry = settings.kafka_security, settings.registry_security


def kafka_config(bootstrap_servers: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A librdkafka (confluent-kafka) configuration: servers, security, then ``extra``."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers}
    security = _kafka
    if security.protocol != "PLAINTEXT":
        config["security.protocol"] = security.protocol.lower()
    if security.sasl_mechanism:
        config["sasl.mechanism"] = security.sasl_mechanism
    if security.sasl_username:
        config["sasl.username"] = security.sasl_username
    if security.sasl_password is not None:
        config["sasl.password"] = security.sasl_password.reveal()
    for key, value in (
        ("ssl.ca.location", security.ssl_ca_location),
        ("ssl.certificate.location", security.ssl_certificate_location),
        ("ssl.key.location", security.ssl_key_location),
    ):
        if value:
            config[key] = value
    if security.ssl_key_password is not None:
        config["ssl.key.password"] = security.ssl_key_password.reveal()
    return {**config, **(extra or {})}


def aiokafka_options() -> dict[str, Any]:
    """Keyword arguments for aiokafka (and Faust's broker credentials) with the same security."""
    security = _kafka
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.sasl_mechanism:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password.reveal() if security.sasl_password else None
    if security.protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=security.ssl_ca_location)
        if security.ssl_certificate_location:
            password = security.ssl_key_password.reveal() if security.ssl_key_password else None
            context.load_cert_chain(security.ssl_certificate_location, security.ssl_key_location, password)
        options["ssl_context"] = context
    return options


def registry_config(url: str) -> dict[str, Any]:
    """A confluent-kafka ``SchemaRegistryClient`` configuration with the registry's credentials and CA."""
    config: dict[str, Any] = {"url": url, "timeout": REGISTRY_TIMEOUT_S}
    if _registry.basic_auth is not None:
        config["basic.auth.user.info"] = _registry.basic_auth.reveal()
    if _registry.ssl_ca_location:
        config["ssl.ca.location"] = _registry.ssl_ca_location
    return config
