"""API keys (``API_KEYS_FILE``): stored hashed, each bound to a scope (SPEC §7).

Why SHA-256 and not bcrypt/argon2: our keys are 32 random bytes (256 bits) from ``secrets``,
not human passwords. Slow hashes exist to make guessing low-entropy passwords expensive;
against a 256-bit random key guessing is hopeless at any hash speed, so a slow hash would only
add ~100 ms to every request. A stolen key file still reveals no usable key (SHA-256 is
preimage resistant). This is the usual practice for API tokens. The comparison runs over every
stored hash with ``hmac.compare_digest`` so timing does not reveal how close a guess came.

The file (YAML)::

    keys:
      - {name: control-room, hash: "sha256:<64 hex>", scope: operator}
      - {name: tunabyggen-fm, hash: "sha256:<64 hex>", scope: "owner:tunabyggen"}
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from energy_core.errors import ConfigError

_HASH = r"^sha256:[0-9a-f]{64}$"
_SCOPE = r"^(operator|owner:[A-Za-z0-9][A-Za-z0-9_.:-]*)$"
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may see: every owner (``owner is None``: an operator) or one owner."""

    owner: str | None

    @classmethod
    def parse(cls, text: str) -> Scope:
        return cls(None) if text == "operator" else cls(text.removeprefix("owner:"))

    @property
    def is_operator(self) -> bool:
        return self.owner is None

    def sees(self, owner_id: str) -> bool:
        return self.owner is None or self.owner == owner_id

    def __str__(self) -> str:
        return "operator" if self.owner is None else f"owner:{self.owner}"


class KeyEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1)
    hash: str = Field(pattern=_HASH)
    scope: str = Field(pattern=_SCOPE)


class KeyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    keys: tuple[KeyEntry, ...] = ()


def hash_key(key: str) -> str:
    """The stored form of a key: ``sha256:<hex>`` of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key: 32 bytes from the OS CSPRNG, URL-safe (it may travel in a query string)."""
    return secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The loaded keys; ``scope_of`` finds the scope of a presented key, or None."""

    entries: tuple[KeyEntry, ...]

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read ``API_KEYS_FILE``; any mistake raises ConfigError naming the key."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(KeyFile.model_validate(raw or {}).keys)
        except OSError as exc:
            raise ConfigError(f"API_KEYS_FILE cannot be read: {exc.strerror}: {path}") from None
        except yaml.YAMLError:
            raise ConfigError(f"API_KEYS_FILE is not valid YAML: {path}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"API_KEYS_FILE {path}: {where}: {err['msg']}") from None

    def scope_of(self, presented: str) -> Scope | None:
        digest = hash_key(presented).encode()
        found: KeyEntry | None = None
        for entry in self.entries:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(digest, entry.hash.encode()):
                found = entry
        return Scope.parse(found.scope) if found else None


def add_key(path: Path, name: str, scope: str) -> str:
    """Append a new key to the file (created if missing) and return the key; only its hash is kept."""
    entry = KeyEntry(name=name, hash="sha256:" + "0" * 64, scope=scope)  # validates name and scope
    existing = KeyRing.load(path).entries if path.exists() else ()
    if any(e.name == name for e in existing):
        raise ConfigError(f"API_KEYS_FILE {path}: a key named {name!r} exists already")
    key = new_key()
    entries = [*existing, entry.model_copy(update={"hash": hash_key(key)})]
    document = {"keys": [e.model_dump() for e in entries]}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return key


def write_demo_keys(path: Path) -> list[str]:
    """Create one operator key and one Tunabyggen key; the file keeps only their hashes."""
    operator, tenant = new_key(), new_key()
    document = {
        "keys": [
            {"name": "demo-operator", "hash": hash_key(operator), "scope": "operator"},
            {"name": "demo-tunabyggen", "hash": hash_key(tenant), "scope": "owner:tunabyggen"},
        ]
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return [f"operator={operator}", f"tunabyggen={tenant}"]
