"""API keys (``API_KEYS_FILE``), stored hashed, each bound to a scope. Placeholder: issue 7."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import yaml


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def write_demo_keys(path: Path) -> list[str]:
    """Create one operator key and one Tunabyggen key; the file keeps only their hashes."""
    operator, tenant = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    document = {
        "keys": [
            {"name": "demo-operator", "hash": hash_key(operator), "scope": "operator"},
            {"name": "demo-tunabyggen", "hash": hash_key(tenant), "scope": "owner:tunabyggen"},
        ]
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return [f"operator={operator}", f"tunabyggen={tenant}"]
