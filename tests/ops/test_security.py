"""Security settings: validated, read from env or files, turned into client configs, never printed."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ops import config, connections

PASSWORD = "s3cr3t-Pa55w0rd-not-for-logs"


@pytest.fixture(autouse=True)
def _plaintext_after() -> object:
    yield None
    connections.use(config.load({}))


def test_sasl_ssl_settings_reach_librdkafka_and_aiokafka(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")
    settings = config.load(
        {
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "pipeline",
            "KAFKA_SASL_PASSWORD_FILE": str(secret_file),
            "SCHEMA_REGISTRY_BASIC_AUTH": f"sr-user:{PASSWORD}",
        }
    )
    connections.use(settings)
    librdkafka = connections.kafka_config("broker:9093", {"acks": "all"})
    assert librdkafka == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "pipeline",
        "sasl.password": PASSWORD,
        "acks": "all",
    }
    options = connections.aiokafka_options()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_plain_password"] == PASSWORD
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert connections.registry_config("https://sr")["basic.auth.user.info"] == f"sr-user:{PASSWORD}"


def test_secrets_never_show_in_a_repr_or_a_format() -> None:
    settings = config.load(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": PASSWORD}
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in f"{settings}"
    assert settings.kafka_security.sasl_password is not None
    assert settings.kafka_security.sasl_password.reveal() == PASSWORD


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "is not one of PLAINTEXT"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_PASSWORD_FILE": "/nonexistent/secret"}, "cannot be read"),
    ],
)
def test_bad_security_settings_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.load(env)


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    connections.use(config.load({}))
    assert connections.kafka_config("b:1") == {"bootstrap.servers": "b:1"}
    assert connections.aiokafka_options() == {"security_protocol": "PLAINTEXT"}
    assert connections.registry_config("http://sr") == {"url": "http://sr", "timeout": connections.REGISTRY_TIMEOUT_S}
