"""End to end with docker-compose.yml's own job commands, run here as processes instead of containers.

fake exchange -> producer + kline backfill -> Kafka -> the three processors -> derived topics, each started with
the exact entry point, command and environment its compose service has (profile ``fake``). Only what a container
network provides differently is mapped: service host names and ports to free local ports (other tests hold the
defaults), ``/var/lib/kucoin-kafka`` to a temporary directory, and the broker to a private one, so the default
topic and group names the compose file uses are this test's alone. That broker takes the jobs' connections on a
SASL/PLAIN listener, with the credentials in the environment (the password from a ``_FILE``), as a secured
cluster would: every client (provisioning, librdkafka producers, Faust's aiokafka) must authenticate. Then every
healthcheck URL must answer and every job must stop cleanly on SIGTERM within the service's stop grace period.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer

from ops.stack.local import Endpoints
from processors.jobs import JOB_NAMES, job
from schemas.registry import registry_client
from tests.deploy.compose import SHELL_ENTRYPOINT, Compose, load_compose
from tests.support.ports import free_port
from tests.support.private_kafka import PrivateKafka, private_kafka

pytestmark = pytest.mark.integration

IMAGE_HOME = "/var/lib/kucoin-kafka"  # the image's KUCOIN_KAFKA_HOME and working directory
JOB_SERVICES = ("produce-fake", "backfill-fake", *(f"process-{name}" for name in JOB_NAMES))
STOP_GRACE_S = 45.0


class Localizer:
    """Maps what differs between the compose network and this machine; nothing else in a command changes."""

    def __init__(self, compose: Compose, home: Path) -> None:
        self.home = home
        self.hosts = {name: "127.0.0.1" for name in compose.services}
        self.ports: dict[int, int] = {}

    def port(self, port: int) -> int:
        return self.ports.setdefault(port, free_port())

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None, url
        netloc = f"{self.hosts.get(parts.hostname, parts.hostname)}:{self.port(parts.port)}"
        return parts._replace(netloc=netloc).geturl()

    def text(self, text: str) -> str:
        text = re.sub(r"https?://[^\s'\"]+", lambda m: self.url(m[0]) if urlsplit(m[0]).port else m[0], text)
        text = re.sub(r"(--(?:metrics-)?port\s+)(\d+)", lambda m: f"{m[1]}{self.port(int(m[2]))}", text)
        text = re.sub(r"(--host\s+)(\S+)", lambda m: f"{m[1]}{self.hosts.get(m[2], m[2])}", text)
        return text.replace(IMAGE_HOME, str(self.home))

    def argv(self, argv: list[str]) -> list[str]:
        if argv[:2] == SHELL_ENTRYPOINT:
            return [*argv[:2], self.text(argv[2])]
        out = []
        for previous, token in zip(["", *argv], argv, strict=False):
            if previous in ("--port", "--metrics-port"):
                token = str(self.port(int(token)))
            elif previous == "--host":
                token = self.hosts.get(token, token)
            out.append(token.replace(IMAGE_HOME, str(self.home)))
        return out


@dataclass
class Job:
    """One compose service running as a local process."""

    service: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.service} ({self.log}):\n" + "\n".join(text)


class Deployment:
    """Starts services the way compose would, with the localizer's mapping and the cluster's credentials."""

    def __init__(
        self, compose: Compose, localizer: Localizer, endpoints: Endpoints, security: dict[str, str], root: Path
    ) -> None:
        self.compose, self.localizer, self.endpoints, self.root = compose, localizer, endpoints, root
        self.security = security
        self.jobs: dict[str, Job] = {}
        localizer.home.mkdir(parents=True, exist_ok=True)

    def _env(self, service: str) -> dict[str, str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "PYTHONUNBUFFERED": "1",
            "KUCOIN_KAFKA_HOME": str(self.localizer.home),  # the image's ENV
        }
        for name, value in self.compose.environment(service).items():
            env[name] = self.localizer.text(value)
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.endpoints.bootstrap_servers
        env["SCHEMA_REGISTRY_URL"] = self.endpoints.schema_registry_url
        return {**env, **self.security}

    def _argv(self, service: str) -> list[str]:
        argv = self.localizer.argv(self.compose.process_argv(service))
        if argv[0] == "kucoin-kafka":
            argv[0] = str(Path(sys.executable).with_name("kucoin-kafka"))
        return argv

    def start(self, service: str) -> Job:
        log = self.root / "logs" / f"{service}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                self._argv(service),
                env=self._env(service),
                cwd=self.localizer.home,  # the image's WORKDIR
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.jobs[service] = Job(service, process, log)
        return self.jobs[service]

    def run_once(self, service: str, timeout: float) -> None:
        job = self.start(service)
        code = job.process.wait(timeout)
        assert code == 0, f"{service} exited {code}\n{job.tail()}"

    def health_urls(self, service: str) -> list[str]:
        return [self.localizer.url(url) for url in self.compose.healthcheck_urls(service)]

    def wait_healthy(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        urls = self.health_urls(service)
        assert urls, service
        while True:
            job = self.jobs[service]
            assert job.process.poll() is None, f"{service} exited {job.process.returncode}\n{job.tail()}"
            try:
                if all(httpx.get(url, timeout=2).status_code == 200 for url in urls):
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{service}: {urls} not healthy in {timeout} s\n{job.tail()}"
            time.sleep(0.3)

    def logs(self) -> str:
        return "\n".join(job.tail() for job in self.jobs.values())

    def kill_all(self) -> None:
        for running in self.jobs.values():
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait()


def _records_per_topic(endpoints: Endpoints, topics: list[str], timeout: float) -> dict[str, dict[str, object]]:
    """The first committed, Avro-decoded record of each topic, waiting for each until ``timeout``."""
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": endpoints.bootstrap_servers,
            "group.id": "deploy-e2e-reader",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "value.deserializer": AvroDeserializer(registry_client(endpoints.schema_registry_url)),
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        consumer.assign([TopicPartition(t, p, 0) for t in topics for p in metadata.topics[t].partitions])
        first: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + timeout
        while set(first) != set(topics) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            topic = msg.topic()
            assert topic is not None
            first.setdefault(topic, {"key": bytes(msg.key() or b"").decode(), "value": msg.value()})
        return first
    finally:
        consumer.close()


SASL_USER, SASL_PASSWORD = "pipeline", "pipeline-secret"


def sasl_environment(password_file: Path) -> dict[str, str]:
    """The security settings a job gets on a SASL/PLAIN cluster (the password read from ``password_file``)."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": SASL_USER,
        "KAFKA_SASL_PASSWORD_FILE": str(password_file),
    }


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[PrivateKafka]:
    """A private broker whose jobs' listener wants SASL/PLAIN (its plain listener is for this test's reader)."""
    with private_kafka(tmp_path, sasl_users={SASL_USER: SASL_PASSWORD}) as broker:
        yield broker


@pytest.fixture
def deployment(services: Endpoints, secured_broker: PrivateKafka, tmp_path: Path) -> Iterator[Deployment]:
    assert secured_broker.sasl_bootstrap_servers is not None
    password_file = tmp_path / "kafka-password"
    password_file.write_text(SASL_PASSWORD + "\n")
    with ExitStack() as stack:
        jobs_endpoints = Endpoints(secured_broker.sasl_bootstrap_servers, services.schema_registry_url)
        compose = load_compose()
        localizer = Localizer(compose, tmp_path / "home")
        deploy = Deployment(compose, localizer, jobs_endpoints, sasl_environment(password_file), tmp_path)
        stack.callback(deploy.kill_all)
        yield deploy


def test_a_wrong_sasl_password_is_refused(secured_broker: PrivateKafka, tmp_path: Path) -> None:
    """The listener really authenticates (so the end-to-end run proves the jobs do): a bad password fails the
    provisioning command at once with the broker's reason, not a traceback after a timeout."""
    assert secured_broker.sasl_bootstrap_servers is not None
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "KUCOIN_KAFKA_HOME": str(tmp_path / "home"),
        "KAFKA_BOOTSTRAP_SERVERS": secured_broker.sasl_bootstrap_servers,
        **sasl_environment(wrong),
    }
    command = [str(Path(sys.executable).with_name("kucoin-kafka")), "topics", "ensure"]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and time.monotonic() - started < 20, result.stderr
    assert "Traceback" not in result.stderr
    assert "kucoin-kafka: error:" in result.stderr and "Invalid username or password" in result.stderr


def test_compose_jobs_run_the_pipeline_end_to_end(
    deployment: Deployment, secured_broker: PrivateKafka, services: Endpoints
) -> None:
    started = time.monotonic()
    deployment.run_once("provision", timeout=120)
    deployment.start("fake-exchange")
    deployment.wait_healthy("fake-exchange", timeout=30)
    for service in JOB_SERVICES:
        deployment.start(service)
    for service in JOB_SERVICES:
        deployment.wait_healthy(service, timeout=90)

    raw = [job(name).input.default_topic for name in JOB_NAMES]
    derived = sorted({topic for name in JOB_NAMES for topic in job(name).default_topics().values()})
    derived.remove("kucoin.futures.late")  # only written when inputs arrive late
    wanted = raw + derived
    reader = Endpoints(secured_broker.bootstrap_servers, services.schema_registry_url)
    records = _records_per_topic(reader, wanted, timeout=120)
    assert set(records) == set(wanted), f"nothing in {sorted(set(wanted) - set(records))}\n{deployment.logs()}"
    for topic, record in records.items():
        value = record["value"]
        assert isinstance(value, dict) and value.get("symbol") == record["key"], (topic, record)

    scraped = {
        service: httpx.get(url, timeout=5).text for service in JOB_SERVICES for url in deployment.health_urls(service)
    }
    assert re.search(r"^kucoin_records_acked_total [1-9]", scraped["produce-fake"], re.MULTILINE)
    kline_topic = job("kline-bars").input.default_topic
    pattern = rf'^kucoin_records_produced_total\{{topic="{kline_topic}"\}} [1-9]'
    assert re.search(pattern, scraped["backfill-fake"], re.MULTILINE)
    for name in JOB_NAMES:
        pattern = rf'^kucoin_processor_events_in_total\{{job="{name}"\}} [1-9]'
        assert re.search(pattern, scraped[f"process-{name}"], re.MULTILINE), name

    stopping = [*reversed(JOB_SERVICES), "fake-exchange"]
    for service in stopping:
        deployment.jobs[service].process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for service in stopping:
        running = deployment.jobs[service]
        try:
            code = running.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{service} did not stop within {STOP_GRACE_S} s of SIGTERM\n{running.tail()}")
        assert code == 0, f"{service} exited {code} on SIGTERM\n{running.tail()}"
    print(f"compose jobs end to end: {time.monotonic() - started:.1f} s")
