"""Pinned versions of the services in the local stack.

Kafka 4.3.1: the newest Apache Kafka release whose broker AND tools jars are all on Maven Central (4.4.0 publishes
``kafka_2.13`` but not ``kafka-tools``, which ``kafka-producer-perf-test`` needs). aiokafka 0.14, librdkafka 2.x
(confluent-kafka) and faust-streaming 0.15 all speak its protocol range, transactions included; the smoke tests
prove it on every run.
"""

from __future__ import annotations

__all__ = ["APICURIO_VERSION", "KAFKA_VERSION", "LOG4J_VERSION"]

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"  # the log4j2 that Kafka 4.3.1 itself depends on
APICURIO_VERSION = "3.3.3"
