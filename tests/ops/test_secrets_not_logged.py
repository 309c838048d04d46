"""Secrets never reach the logs: a job started with SASL and registry credentials, at DEBUG, is grepped."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PASSWORD = "Zq9-secret-never-logged-7Hx"


def test_a_job_with_credentials_at_debug_level_logs_no_secret(tmp_path: Path) -> None:
    password_file = tmp_path / "kafka-password"
    password_file.write_text(PASSWORD)
    env = {
        **os.environ,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "pipeline",
        "KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "SCHEMA_REGISTRY_BASIC_AUTH": f"registry-user:{PASSWORD}",
        "KUCOIN_KAFKA_HOME": str(tmp_path / "home"),
    }
    unreachable = "127.0.0.1:1"
    argv = ["produce", "--log-level", "DEBUG", "--metrics-port", "0", "--brokers", unreachable]
    argv += ["--registry", f"http://{unreachable}", "--rest-url", f"http://{unreachable}"]
    job = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    time.sleep(6)  # connection attempts to the unreachable broker and registry are logged meanwhile
    job.send_signal(signal.SIGTERM)
    output, _ = job.communicate(timeout=60)
    text = output.decode(errors="replace")
    assert text, "the job logged nothing: the test would prove nothing"
    encoded = base64.b64encode(f"registry-user:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, encoded):
        assert secret not in text
