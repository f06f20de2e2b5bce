"""Upload the generated dashboards to an existing Grafana over its HTTP API (grafana-client).

Not exercised against a live Grafana in this repository's tests (Grafana is not installable
here); the payloads it sends are built by pure functions that the tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.datasources import PROVISIONED_UIDS

log = structlog.get_logger("dashboards.push")


class GrafanaSettings(BaseSettings):
    """Where and as whom to push: ``GRAFANA_URL`` plus ``GRAFANA_TOKEN`` or user and password."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)  # env file: load()

    grafana_url: str
    grafana_token: SecretStr | None = None
    grafana_username: str | None = None
    grafana_password: SecretStr | None = None
    grafana_folder: str = "Borlänge energy"
    grafana_folder_uid: str = "borlange-energy"

    @field_validator("grafana_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:3000")
        _ = parts.port  # raises ValueError on a malformed port
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> GrafanaSettings:
        if self.grafana_token is None and not (self.grafana_username and self.grafana_password):
            raise ValueError("set GRAFANA_TOKEN, or GRAFANA_USERNAME and GRAFANA_PASSWORD")
        return self

    def credential(self) -> str | tuple[str, str]:
        """A service-account token when given, else basic-auth user and password."""
        if self.grafana_token is not None:
            return self.grafana_token.get_secret_value()
        assert self.grafana_username  # the validator ensured both
        assert self.grafana_password
        return (self.grafana_username, self.grafana_password.get_secret_value())


def folder_payload(settings: GrafanaSettings) -> dict[str, str]:
    """Body of ``POST /api/folders`` for the folder the dashboards go into."""
    return {"title": settings.grafana_folder, "uid": settings.grafana_folder_uid}


def dashboard_payload(document: Mapping[str, Any], folder_uid: str, message: str) -> dict[str, Any]:
    """Body of ``POST /api/dashboards/db``: matched by uid, overwriting, in our folder.

    ``id`` is cleared because ids are per Grafana instance; the uid is what identifies the
    dashboard across instances.
    """
    dashboard = dict(document)
    dashboard["id"] = None
    return {"dashboard": dashboard, "folderUid": folder_uid, "overwrite": True, "message": message}


@dataclass(frozen=True)
class Pushed:
    """What Grafana answered for one dashboard."""

    uid: str
    url: str
    version: int


def push(
    settings: GrafanaSettings, documents: Mapping[str, Mapping[str, Any]], message: str
) -> tuple[list[Pushed], list[str]]:
    """Create the folder if missing, then upload every dashboard.

    Returns the uploaded dashboards and the provisioned datasource uids this Grafana lacks
    (panels bound to them will show errors until the datasources are provisioned).
    """
    # Imported here so build/check do not pay for the HTTP stack.
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError

    api = GrafanaApi.from_url(settings.grafana_url, credential=settings.credential(), timeout=30.0)
    folder = folder_payload(settings)
    try:
        api.folder.get_folder(folder["uid"])
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(folder["title"], uid=folder["uid"])
        log.info("grafana_folder_created", uid=folder["uid"])
    missing = []
    for uid in PROVISIONED_UIDS:
        try:
            api.datasource.get_datasource_by_uid(uid)
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            missing.append(uid)
    pushed = []
    for document in documents.values():
        answer = api.dashboard.update_dashboard(dashboard_payload(document, folder["uid"], message))
        pushed.append(Pushed(str(answer.get("uid")), str(answer.get("url")), int(answer.get("version", 0))))
        log.info("grafana_dashboard_pushed", uid=answer.get("uid"), version=answer.get("version"))
    return pushed, missing
