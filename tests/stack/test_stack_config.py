"""Pure pieces of the stack: generated broker configuration, settings parsing, Java discovery errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import config
from ops.stack.errors import StackError
from ops.stack.java import find_java
from ops.stack.kafka import server_properties


def test_server_properties_are_single_node_transactional_and_loopback_only(tmp_path: Path) -> None:
    lines = dict(line.split("=", 1) for line in server_properties(tmp_path, 1234, 1235).splitlines() if "=" in line)
    assert lines["process.roles"] == "broker,controller"
    assert lines["transaction.state.log.replication.factor"] == "1"
    assert lines["transaction.state.log.min.isr"] == "1"
    assert lines["offsets.topic.replication.factor"] == "1"
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert lines["log.dirs"] == str(tmp_path)


def test_settings_prefer_external_services_and_validate_ports() -> None:
    settings = config.load(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "SCHEMA_REGISTRY_URL": "http://sr:8081/",
            "STACK_KAFKA_PORT": "1",
        }
    )
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.schema_registry_url == "http://sr:8081"
    assert settings.kafka_port == 1
    with pytest.raises(ValueError, match="STACK_REGISTRY_PORT"):
        config.load({"STACK_REGISTRY_PORT": "eighty"})
    with pytest.raises(ValueError, match="outside"):
        config.load({"STACK_KAFKA_PORT": "70000"})


def test_an_impossible_java_requirement_says_what_was_found() -> None:
    with pytest.raises(StackError, match="needs Java 99 or newer; found: "):
        find_java(99, None, "a future registry")
