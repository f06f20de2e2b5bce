"""The strict grammar and quoting that stand between callers and InfluxQL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.errors import ApiError
from api.influxql import Every, check_buckets, ident, literal, tag_equals


@given(st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_every_accepts_only_digits_and_one_unit_and_renders_back_the_same(text):
    if not re.fullmatch(r"[1-9][0-9]{0,5}[smhdw]", text):
        with pytest.raises(ApiError, match="every must look like") as caught:
            Every.parse(text)
        assert caught.value.code == "bad_every"
        return
    every = Every.parse(text)
    assert str(every) == text


@pytest.mark.parametrize("text", ["0s", "1h)", "1h fill(0)", "1mo", "-1h", "1 h", "١h", "1h\n"])
def test_every_rejects_near_misses(text):
    with pytest.raises(ApiError):
        Every.parse(text)


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_a_literal_is_one_closed_string_token_whatever_it_holds(value):
    quoted = literal(value)
    inner = quoted[1:-1]
    assert quoted.startswith("'")
    assert quoted.endswith("'")
    # every quote inside is escaped, and no escape is left dangling before the closing quote
    assert re.fullmatch(r"(?:[^'\\]|\\.)*", inner, flags=re.DOTALL)
    assert inner.replace("\\'", "'").replace("\\\\", "\\") == value


def test_identifiers_come_only_from_allow_lists():
    assert ident("power_kw") == '"power_kw"'
    for bad in ('power_kw" OR 1=1', "x y", "", "Energy"):
        with pytest.raises(ValueError, match="allow-listed"):
            ident(bad)
    assert tag_equals("site", "tb-1") == "\"site\" = 'tb-1'"


def test_too_many_buckets_is_a_400():
    check_buckets(0, 3600 * 10**9 * 24, Every.parse("1h"))
    with pytest.raises(ApiError) as caught:
        check_buckets(0, 365 * 86400 * 10**9, Every.parse("1s"))
    assert caught.value.code == "too_many_buckets"
