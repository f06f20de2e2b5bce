"""The spool keeps, for every line of a batch, the message it came from."""

from __future__ import annotations

import sqlite3

from energy_core.schema import Message
from ingest.spool import Spool, decode_origins, encode_origins


def test_origins_of_consecutive_lines_round_trip_one_message_per_run():
    a = Message("energy/v1/hm-1", b'{"values": {"energy": 1}}', 1)
    b = Message("senml/gw-1", b"\x00\xff binary", 2)
    origins = [a, a, a, b, a]
    decoded = decode_origins(encode_origins(origins))
    assert decoded == origins
    assert decoded[0] is decoded[2]  # one object per run, not a copy per line


async def test_a_spooled_batch_comes_back_with_each_lines_origin_and_its_whole_size(tmp_path):
    a = Message("energy/v1/hm-1", b"payload-a", 10)
    b = Message("energy/v1/hm-2", b"payload-b", 20)
    spool = Spool(tmp_path / "spool.sqlite", 1 << 20)
    try:
        await spool.append(b"l1\nl2\nl3", 3, [a, a, b])
        spooled = await spool.oldest()
        assert spooled is not None
        assert spooled.origins == [a, a, b]
        assert spooled.size == spool.bytes
        assert spooled.size > len(b"l1\nl2\nl3")
        await spool.remove(spooled.id, spooled.size)
        assert spool.bytes == 0
    finally:
        spool.close()


async def test_a_spool_written_before_origins_were_kept_still_drains_its_lines(tmp_path):
    path = tmp_path / "spool.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE batches"
        " (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, points INTEGER NOT NULL)"
    )
    old.execute("INSERT INTO batches (body, points) VALUES (?, ?)", (b"l1\nl2", 2))
    old.commit()
    old.close()
    spool = Spool(path, 1 << 20)
    try:
        spooled = await spool.oldest()
    finally:
        spool.close()
    assert spooled is not None
    assert (spooled.body, spooled.points, spooled.origins, spooled.size) == (b"l1\nl2", 2, None, 5)
