"""Requests to Lintel's extension endpoints over the CLI's keystoneauth session."""

from __future__ import annotations

from typing import Any


class Client:
    """Lintel's `/v3` extensions, on the identity endpoint of the service catalog."""

    def __init__(self, session, interface: str | None = None, region: str | None = None):
        self.session = session
        self.interface = interface
        self.region = region

    def _url(self, path: str) -> str:
        base = self.session.get_endpoint(
            service_type="identity", interface=self.interface, region_name=self.region
        ).rstrip("/")
        if not base.endswith("/v3"):
            base += "/v3"
        return base + path

    def get(self, path: str, **params: Any) -> Any:
        return self.session.get(self._url(path), params=params or None).json()

    def post(self, path: str, body: dict) -> Any:
        return self.session.post(self._url(path), json=body).json()

    def rotate(self, user_id: str, cred_id: str, grace: int | None) -> dict:
        body = {"application_credential": {"grace_period": grace}} if grace is not None else {}
        path = f"/users/{user_id}/application_credentials/{cred_id}/rotate"
        return self.post(path, body)["application_credential"]

    def credential_id(self, user_id: str, name_or_id: str) -> str:
        """The id of the user's credential named so, else the value itself (an id)."""
        found = self.get(f"/users/{user_id}/application_credentials", name=name_or_id)
        creds = found.get("application_credentials") or []
        return creds[0]["id"] if creds else name_or_id

    def create_service_account(self, project_id: str, name: str, roles: list[str]) -> dict:
        body = {"service_account": {"name": name, "roles": roles}}
        return self.post(f"/projects/{project_id}/service_accounts", body)["service_account"]

    def service_accounts(self, project_id: str) -> list[dict]:
        return self.get(f"/projects/{project_id}/service_accounts")["service_accounts"]
