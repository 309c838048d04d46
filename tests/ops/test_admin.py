"""The admin connection's clear errors (the SASL refusal is proven on a real SASL broker in tests/deploy)."""

from __future__ import annotations

import socket

import pytest

from ops.admin import Admin, ClusterError
from ops.stack.local import Endpoints


def test_a_silent_address_is_a_cluster_error_after_the_timeout() -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ClusterError, match=rf"Kafka at 127.0.0.1:{port} did not answer within 2 s"):
        Admin(f"127.0.0.1:{port}").metadata(timeout_s=2)


def test_metadata_of_the_session_broker(services: Endpoints) -> None:
    assert Admin(services.bootstrap_servers).metadata().brokers
