"""The state table's changelog records are written without Faust's topic objects: byte for byte what Faust writes."""

from __future__ import annotations

import json
from typing import Any

import faust
import pytest

from processors.app import table_json
from processors.runner import encode_state

TEXTS = [
    "XBTUSDTM",
    "",
    'quote " backslash \\ slash / tab \t newline \n nul \x00 del \x7f',
    "non-ASCII: é ü 中文 \U0001f600",
    encode_state({"watermark_ms": 1_731_665_539_900, "last_sequence": 7, "windows": []}),
    json.dumps({"bars": [0.1111097161097983, None, -0.0, 1e-300], "minutes": 2**1_439 + 1}),  # as encode_state can
]


@pytest.fixture(scope="module")
def table() -> Any:
    app = faust.App("changelog-encoding", store="memory://", autodiscover=False, web_enabled=False)
    return app.Table("job-state", partitions=1, key_type=str, value_type=str, default=None)  # as build_app declares


@pytest.mark.parametrize("text", TEXTS)
def test_keys_and_values_are_what_faust_writes(table: Any, text: str) -> None:
    changelog = table.changelog_topic
    assert table_json(text) == changelog.prepare_key(text, table.key_serializer)[0]
    assert table_json(text) == changelog.prepare_value(text, table.value_serializer)[0]
