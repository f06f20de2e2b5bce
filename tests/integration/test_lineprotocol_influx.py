"""Line-protocol escaping against the real InfluxDB: every tag value is stored as ``storable`` says."""

from __future__ import annotations

import random

import httpx
import pytest

from energy_core import lineprotocol
from energy_core.schema import Point

pytestmark = pytest.mark.integration

NASTY = [
    "a b",
    "a,b",
    "a=b",
    "a\\b",
    "a\\",
    "\\",
    "a\\,b",
    "a\\ b",
    "x\\ ",
    "a\nb",
    "a\r\nb",
    'q"x',
    "'",
    "ä€😀",
    "#start",
    "trailing ",
    " leading",
    "tab\tx",
    "a\\\\b",
    "=",
    ",",
    "\\n",
    "é\u0301",
    "\x01ctrl",
]
ALPHABET = " ,=\\\n\"'#\tabcXYZ019äö€😀\x7f"


def tag_values() -> list[str]:
    rng = random.Random(20261127)
    made = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    return list(dict.fromkeys(NASTY + made))


def test_written_tag_values_come_back_as_storable_says(isolated):
    url = isolated.services.influx_url
    httpx.post(f"{url}/query", params={"q": f'CREATE DATABASE "{isolated.db}"'}).raise_for_status()
    values = tag_values()
    lines = [
        lineprotocol.encode(
            Point("probe", (("label", value),), {"index": float(i), "odd key=,": 1.0}, 1_000 + i)
        )
        for i, value in enumerate(values)
    ]
    response = httpx.post(f"{url}/write", params={"db": isolated.db}, content="\n".join(lines).encode())
    assert response.status_code == 204, response.text
    rows = isolated.query('SELECT "index", "label", "odd key=," FROM "probe"')
    assert len(rows) == len(values)
    stored = {int(row[1]): row[2] for row in rows}  # type: ignore[call-overload]
    assert [stored[i] for i in range(len(values))] == [lineprotocol.storable(v) for v in values]
