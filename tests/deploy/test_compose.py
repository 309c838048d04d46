"""docker-compose.yml and the Prometheus files, checked without a Docker engine.

Every service's command must be one the CLI accepts, every container variable one the code reads (or a real
setting of a third-party image), every healthcheck the job's own endpoint, every job scraped, every alert about a
metric the code exports, and every setting documented in ops/README.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from ops import config
from ops.cli import build_parser
from ops.fake_exchange.cli import build_parser as fake_exchange_parser
from ops.stack.kafka import server_properties
from ops.stack.registry import CCOMPAT_PATH, registry_start_argv
from processors.cli import DEFAULT_METRICS_PORTS
from processors.metrics import WorkerStats
from producers.metrics import ProducerMetrics
from tests.deploy.compose import REPO, Compose, Invocation, load_compose, option, url_port

PROMETHEUS_DIR = REPO / "ops" / "prometheus"
RUNBOOK = REPO / "ops" / "README.md"
JOBS = ("produce", "backfill", "ticker-bars", "kline-bars", "imbalance")


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


@pytest.fixture(scope="module")
def invocations(compose: Compose, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Invocation]]:
    scratch = tmp_path_factory.mktemp("compose")
    return {name: compose.invocations(name, scratch) for name in compose.image_services()}


def _job_argv(calls: list[Invocation]) -> list[str]:
    """The one long-running job call of a service."""
    assert len(calls) == 1, calls
    return calls[0].argv


def _job_name(argv: list[str]) -> str:
    return argv[1] if argv[0] == "process" else argv[0]


def _metrics_port(argv: list[str]) -> int:
    port = option(argv, "--metrics-port")
    if port is None and argv[0] == "process":
        return DEFAULT_METRICS_PORTS[argv[1]]
    assert port is not None, f"{argv}: pass --metrics-port explicitly (it is the health endpoint)"
    return int(port)


def _prometheus() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    return loaded


def _runbook_table_names() -> set[str]:
    return set(re.findall(r"^\| `(\w+)`", RUNBOOK.read_text(), flags=re.MULTILINE))


def _read_by_code(name: str) -> bool:
    """In ENV_VARS, or the ``NAME_FILE`` form its entry documents (a secret read from a file)."""
    base = name.removesuffix("_FILE")
    return name in config.ENV_VARS or (base != name and name in config.ENV_VARS.get(base, ""))


def test_compose_file_follows_the_compose_specification(compose: Compose) -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose.doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_every_command_is_accepted_by_the_cli(invocations: dict[str, list[Invocation]]) -> None:
    seen = set()
    for calls in invocations.values():
        for call in calls:
            parser = fake_exchange_parser() if call.argv[0] == "fake-exchange" else build_parser()
            args = call.argv[1:] if call.argv[0] == "fake-exchange" else call.argv
            try:
                parser.parse_args(args)
            except SystemExit:
                pytest.fail(f"{call.service}: `kucoin-kafka {' '.join(call.argv)}` is refused by the CLI")
            seen.add(" ".join(call.argv[:2]) if call.argv[0] in ("process", "topics", "schemas") else call.argv[0])
    expected = {"produce", "backfill", "fake-exchange", "topics ensure", "schemas check"}
    expected |= {f"process {name}" for name in DEFAULT_METRICS_PORTS}
    assert expected <= seen, f"no service runs {sorted(expected - seen)}"


def test_containers_get_only_variables_the_code_reads(compose: Compose) -> None:
    for name in compose.image_services():
        unknown = {var for var in compose.environment(name) if not _read_by_code(var)}
        assert not unknown, f"{name} sets {sorted(unknown)}, which no code reads (ops/config.py ENV_VARS)"


def test_third_party_variables_are_real_settings(compose: Compose, tmp_path: Path) -> None:
    """apache/kafka maps KAFKA_A_B to a.b; Apicurio maps APICURIO_A_B to apicurio.a.b: the local stack's own."""
    broker = {
        line.split("=", 1)[0]
        for line in server_properties(tmp_path, 1, 2).splitlines()
        if "=" in line and not line.startswith("#")
    }
    for name in compose.environment("kafka"):
        assert name.startswith("KAFKA_") and name[6:].lower().replace("_", ".") in broker, name
    registry = {
        flag[2:].split("=", 1)[0]
        for flag in registry_start_argv(tmp_path, tmp_path, tmp_path, 1)
        if flag.startswith("-D")
    }
    for name in compose.environment("schema-registry"):
        assert name.lower().replace("_", ".") in registry, name
    assert not compose.environment("prometheus")
    expected = {"kafka", "schema-registry", "prometheus", *compose.image_services()}
    assert set(compose.services) == expected, "a new third-party service needs its variables checked here"


def test_every_healthcheck_targets_the_jobs_own_endpoint(
    compose: Compose, invocations: dict[str, list[Invocation]]
) -> None:
    fake_routes = (REPO / "ops" / "fake_exchange" / "rest.py").read_text()
    for name, calls in invocations.items():
        if name == "provision":
            assert compose.services[name]["healthcheck"] == {"disable": True}
            continue
        argv = _job_argv(calls)
        (url,) = compose.healthcheck_urls(name)
        host, port, path = url_port(url)
        if argv[0] == "fake-exchange":
            assert (host, port) == (option(argv, "--host"), int(option(argv, "--port") or 0)), url
            assert f'web.get("{path}"' in fake_routes, f"{name}: the fake exchange serves no GET {path}"
        else:
            assert (host, port, path) == ("127.0.0.1", _metrics_port(argv), "/metrics"), f"{name}: {url}"
    registry_url = compose.healthcheck_urls("schema-registry")
    assert [url_port(u) for u in registry_url] == [("localhost", 8080, f"{CCOMPAT_PATH}/subjects")]
    assert compose.services["schema-registry"]["ports"] == ["127.0.0.1:18081:8080"]
    assert [url_port(u)[2] for u in compose.healthcheck_urls("prometheus")] == ["/-/healthy"]
    assert "--bootstrap-server localhost:9092" in compose.services["kafka"]["healthcheck"]["test"][1]


def test_prometheus_scrapes_every_job_on_its_health_endpoint(
    compose: Compose, invocations: dict[str, list[Invocation]]
) -> None:
    targets: dict[tuple[str, int], str] = {}
    for scrape in _prometheus()["scrape_configs"]:
        for sd in scrape.get("dns_sd_configs", []):
            targets.update({(host, sd["port"]): scrape["job_name"] for host in sd["names"]})
    scraped: set[str] = set()
    for name, calls in invocations.items():
        if name == "provision" or calls[0].argv[0] not in ("produce", "backfill", "process"):
            continue
        argv = _job_argv(calls)
        networks = compose.services[name].get("networks", {}).get("default") or {}
        hosts = [name, *networks.get("aliases", [])]
        jobs = {targets[(host, _metrics_port(argv))] for host in hosts if (host, _metrics_port(argv)) in targets}
        assert jobs, f"Prometheus does not scrape {name} on port {_metrics_port(argv)}"
        assert jobs <= {_job_name(argv)}, f"{name} is scraped as {jobs}: alerts expect job={_job_name(argv)}"
        scraped |= jobs
    assert scraped == set(JOBS)
    mounts = compose.services["prometheus"]["volumes"]
    assert "./ops/prometheus:/etc/prometheus:ro" in mounts
    for rule_file in _prometheus()["rule_files"]:
        assert (PROMETHEUS_DIR / Path(rule_file).relative_to("/etc/prometheus")).is_file(), rule_file


def _exported_metric_names() -> set[str]:
    """Every sample name the producers and processors expose (counters as ``*_total``, histograms' series)."""
    producers = ProducerMetrics(CollectorRegistry())
    producers.dead_letters.labels("x").inc()
    producers.reconnects.labels("x").inc()
    producers.rest_calls.labels("/x", "200").inc()
    producers.records_produced.labels("x").inc()
    worker = WorkerStats("x")
    worker.events_out["x"] = 1
    worker.lag[0] = 1
    worker.commit_seconds.observe(0.1)
    text = (generate_latest(producers.registry) + generate_latest(worker.registry)).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_alerts_use_only_exported_metrics_and_are_explained() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    exported = _exported_metric_names() | {"up"}
    runbook = RUNBOOK.read_text()
    names = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            names.append(rule["alert"])
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
            metrics = set(re.findall(r"\bkucoin_\w+|\bup(?=\{)", rule["expr"]))
            assert metrics, rule["alert"]
            assert metrics <= exported, f"{rule['alert']}: {sorted(metrics - exported)} are not exported"
            jobs = set(re.findall(r'job=~?"([^"]+)"', rule["expr"]))
            for job in jobs:
                assert set(job.split("|")) <= set(JOBS), f"{rule['alert']}: unknown job {job}"
            assert f"`{rule['alert']}`" in runbook, f"ops/README.md does not explain {rule['alert']}"
    assert len(names) == len(set(names))
    for metric in sorted(exported - {"up"}):
        family = re.sub(r"_(total|bucket|count|sum|created)$", "", metric)
        assert f"`{family}" in runbook, f"ops/README.md does not explain {family}"


def test_every_setting_is_documented_in_one_table(compose: Compose) -> None:
    documented = _runbook_table_names()
    assert set(config.ENV_VARS) <= documented, sorted(set(config.ENV_VARS) - documented)
    assert compose.used_variables <= documented, sorted(compose.used_variables - documented)
    assert all(name.startswith("KK_") for name in compose.used_variables)


def test_state_lives_on_named_volumes(compose: Compose, invocations: dict[str, list[Invocation]]) -> None:
    declared = set(compose.doc["volumes"])
    mounts: dict[str, dict[str, str]] = {}
    for name, svc in compose.services.items():
        for volume in svc.get("volumes", []):
            source, target = volume.split(":")[:2]
            if not source.startswith("."):
                assert source in declared, f"{name}: volume {source} is not declared"
            mounts[name] = {**mounts.get(name, {}), target: source}
    used = {source for service in mounts.values() for source in service.values()}
    assert declared <= used, f"unused volumes {sorted(declared - used)}"
    for name, calls in invocations.items():
        argv = calls[0].argv
        if argv[0] == "produce":
            spill = option(argv, "--spill-dir")
            assert spill and any(spill.startswith(target + "/") for target in mounts.get(name, {})), name
    for name, target in (("kafka", "/var/lib/kafka/data"), ("schema-registry", "/var/lib/apicurio")):
        assert target in mounts[name], name
    assert "/prometheus" in mounts["prometheus"]


def test_restart_policies_dependencies_and_shutdown(compose: Compose) -> None:
    services = compose.services
    for name, svc in services.items():
        assert svc.get("restart") == ("no" if name == "provision" else "unless-stopped"), name
        assert "healthcheck" in svc, name
        for dependency, condition in (svc.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in ("service_healthy", "service_completed_successfully"), name
            wanted = "service_completed_successfully" if dependency == "provision" else "service_healthy"
            assert condition["condition"] == wanted, f"{name} -> {dependency}"
            assert set(services[dependency].get("profiles", [])) <= set(svc.get("profiles", [])), name
    for name, svc in compose.image_services().items():
        assert svc["init"] is True, f"{name}: tini forwards SIGTERM"
        assert svc["stop_grace_period"] == "45s", name
        if name not in ("provision", "fake-exchange"):
            assert "provision" in svc["depends_on"], f"{name} must wait for provisioning"
    live = {name for name, svc in services.items() if "live" in svc.get("profiles", [])}
    fake = {name for name, svc in services.items() if "fake" in svc.get("profiles", [])}
    assert live == {"produce", "backfill"} and fake == {"fake-exchange", "produce-fake", "backfill-fake"}


def test_fake_profile_points_the_producers_at_the_fake_exchange(
    compose: Compose, invocations: dict[str, list[Invocation]]
) -> None:
    fake = _job_argv(invocations["fake-exchange"])
    url = f"http://{option(fake, '--host')}:{option(fake, '--port')}"
    assert compose.services["fake-exchange"]["hostname"] == option(fake, "--host")
    for name in ("produce-fake", "backfill-fake"):
        assert compose.environment(name)["KUCOIN_REST_URL"] == url, name
        assert option(_job_argv(invocations[name]), "--rest-url") is None, name
    for name in ("produce", "backfill"):
        assert compose.environment(name)["KUCOIN_REST_URL"] == config.DEFAULT_KUCOIN_REST_URL, name


def test_prometheus_files_pass_promtool(tmp_path: Path) -> None:
    """``promtool check config`` (rule files included) when promtool is installed (it is not a Python package)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (build it from prometheus/prometheus cmd/promtool to run this check)")
    for name in ("prometheus.yml", "alerts.yml"):
        text = (PROMETHEUS_DIR / name).read_text().replace("/etc/prometheus/", "")
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
