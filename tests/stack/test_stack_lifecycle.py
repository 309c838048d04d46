"""The local stack's own promises: ``up`` twice is harmless, ``down`` leaves no process, busy ports are refused."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from ops import config
from ops.stack.errors import StackError
from ops.stack.local import LocalStack


def _isolated_settings(tmp_path: Path) -> config.Settings:
    """Settings for a second stack on its own ports and data, sharing the jar cache of the main one."""
    base = config.load({})
    home = tmp_path / "stack"
    home.mkdir()
    (home / "cache").symlink_to(base.home / "cache", target_is_directory=True)
    (base.home / "cache").mkdir(parents=True, exist_ok=True)
    return replace(base, home=home, kafka_port=29092, kafka_controller_port=29093, registry_port=28081)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_up_twice_is_harmless_and_down_leaves_nothing_behind(tmp_path: Path) -> None:
    messages: list[str] = []
    stack = LocalStack(_isolated_settings(tmp_path), say=messages.append)
    try:
        stack.up()
        pids = (stack.kafka.pid(), stack.registry.pid())
        assert None not in pids
        assert all(s.healthy for s in stack.status())

        stack.up()
        assert (stack.kafka.pid(), stack.registry.pid()) == pids
        assert any("already running" in m for m in messages)
    finally:
        stack.down()
    survivors = {pid: Path(f"/proc/{pid}/stat").read_text() for pid in pids if pid is not None and _alive(pid)}
    assert not survivors
    assert not any(s.healthy or s.pid for s in stack.status())
    stack.down()  # stopping a stopped stack is a no-op


def test_a_busy_port_is_refused_with_the_variable_to_change(tmp_path: Path) -> None:
    settings = _isolated_settings(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        stack = LocalStack(replace(settings, kafka_port=busy), say=lambda _: None)
        with pytest.raises(StackError, match="STACK_KAFKA_PORT"):
            stack.up()
    assert stack.kafka.pid() is None
