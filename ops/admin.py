"""A Kafka admin connection that fails fast and says why when the cluster refuses it (credentials, TLS).

librdkafka retries a failed SASL handshake until the request times out and then reports only "Broker transport
failure"; the reason reaches its error callback alone. :class:`Admin` keeps that reason and turns a refused or
silent cluster into a :class:`ClusterError` with the address and the reason, for the CLI to print.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata  # type: ignore[attr-defined]

from ops.connections import kafka_config

__all__ = ["Admin", "ClusterError"]

_REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL})


class ClusterError(Exception):
    """Kafka refused the connection or did not answer."""


class Admin:
    """An ``AdminClient`` (as :attr:`client`) for ``bootstrap_servers`` with the process's security settings."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._refusal: str | None = None
        self.client = AdminClient(kafka_config(bootstrap_servers, {"error_cb": self._on_error}))

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in _REFUSALS:
            self._refusal = error.str()

    def metadata(self, timeout_s: float = 30.0) -> ClusterMetadata:
        """The cluster's metadata; :class:`ClusterError` as soon as the cluster refuses us, or after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.client.list_topics(timeout=1.0)
            except KafkaException as exc:
                self.client.poll(0)  # serves the error callback
                if self._refusal is not None:
                    raise ClusterError(f"Kafka at {self.bootstrap_servers} refused us: {self._refusal}") from None
                if time.monotonic() >= deadline:
                    raise ClusterError(
                        f"Kafka at {self.bootstrap_servers} did not answer within {timeout_s:.0f} s ({exc.args[0]})"
                    ) from None
