"""API keys: hashing, scope lookup, key-file mistakes as one line naming API_KEYS_FILE."""

from __future__ import annotations

import pytest
import yaml

from api.auth import KeyRing, Scope, add_key, hash_key, new_key, write_demo_keys
from energy_core.errors import ConfigError


def test_new_keys_are_32_random_bytes_and_distinct():
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 43 for k in keys)  # 32 bytes in URL-safe base64, unpadded


def test_the_key_file_keeps_only_hashes_and_each_key_finds_its_scope(tmp_path):
    path = tmp_path / "keys.yaml"
    lines = write_demo_keys(path)
    keys = dict(line.split("=", 1) for line in lines)
    text = path.read_text()
    assert keys["operator"] not in text
    assert keys["tunabyggen"] not in text
    ring = KeyRing.load(path)
    assert ring.scope_of(keys["operator"]) == Scope(None)
    assert ring.scope_of(keys["tunabyggen"]) == Scope("tunabyggen")
    assert ring.scope_of(keys["tunabyggen"] + "x") is None
    assert ring.scope_of("") is None


def test_add_key_appends_and_refuses_duplicate_names_and_bad_scopes(tmp_path):
    path = tmp_path / "keys.yaml"
    first = add_key(path, "control-room", "operator")
    second = add_key(path, "tunabyggen-fm", "owner:tunabyggen")
    ring = KeyRing.load(path)
    assert ring.scope_of(first) == Scope(None)
    assert ring.scope_of(second) == Scope("tunabyggen")
    with pytest.raises(ConfigError, match="exists already"):
        add_key(path, "control-room", "operator")
    with pytest.raises(ValueError, match="scope"):
        add_key(path, "x", "owner:bad owner")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("keys: [{name: a, hash: 'md5:abc', scope: operator}]", "keys.0.hash"),
        (f"keys: [{{name: a, hash: '{hash_key('k')}', scope: admin}}]", "keys.0.scope"),
        ("keys: [", "not valid YAML"),
        ("tokens: []", "tokens"),
    ],
)
def test_key_file_mistakes_are_one_line_naming_the_key(tmp_path, content, fragment):
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        KeyRing.load(path)
    message = str(caught.value)
    assert message.startswith("API_KEYS_FILE")
    assert fragment in message
    assert "\n" not in message


def test_a_missing_key_file_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="API_KEYS_FILE cannot be read"):
        KeyRing.load(tmp_path / "absent.yaml")


def test_scope_parsing_and_visibility():
    assert str(Scope.parse("operator")) == "operator"
    tenant = Scope.parse("owner:tunabyggen")
    assert tenant.sees("tunabyggen")
    assert not tenant.sees("borlange-energi")
    assert Scope.parse("operator").sees("anyone")


def test_hash_is_sha256_of_the_key_text():
    assert hash_key("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    document = {"keys": [{"name": "n", "hash": hash_key("abc"), "scope": "operator"}]}
    assert yaml.safe_dump(document)
