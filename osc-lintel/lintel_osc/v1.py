"""The commands: `application credential rotate`, `service account create`, `service account list`."""

from __future__ import annotations

from openstackclient.identity import common as identity_common
from osc_lib.command import command


def _user_id(app, given: str | None) -> str:
    """The user named (by name or ID, as every identity command resolves it) or, by default, the authenticated one."""
    if not given:
        return app.client_manager.auth_ref.user_id
    return identity_common.find_user(app.client_manager.identity, given).id


def _project_id(app, given: str | None) -> str:
    """The project named (by name or ID) or, by default, the token's."""
    if not given:
        return app.client_manager.auth_ref.project_id
    return identity_common.find_project(app.client_manager.identity, given).id


def _title(key: str) -> str:
    """`project_id` -> `Project ID`, as python-openstackclient heads its columns."""
    return " ".join("ID" if w == "id" else w.capitalize() for w in key.split("_"))


def _show(data: dict) -> tuple[tuple, tuple]:
    data = dict(data)
    data.pop("links", None)
    if isinstance(data.get("roles"), list):
        data["roles"] = " ".join(r.get("name", r.get("id", "")) for r in data["roles"])
    rows = sorted((_title(k), v) for k, v in data.items())
    return tuple(k for k, _ in rows), tuple(v for _, v in rows)


class RotateApplicationCredential(command.ShowOne):
    """Rotate an application credential's secret under the same ID (the new secret is shown once)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("application_credential", metavar="<application-credential>",
                            help="Application credential to rotate (name or ID)")
        parser.add_argument("--user", metavar="<user>",
                            help="User that owns the credential (name or ID; default: the current user)")
        parser.add_argument("--grace-period", metavar="<seconds>", type=int,
                            help="Seconds the previous secret keeps working (default: the server's)")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.lintel
        user_id = _user_id(self.app, parsed_args.user)
        cred_id = client.credential_id(user_id, parsed_args.application_credential)
        return _show(client.rotate(user_id, cred_id, parsed_args.grace_period))


class ShowApplicationCredentialUsage(command.ShowOne):
    """Show when an application credential was last used, rotated and must be rotated (Lintel's fields)."""

    FIELDS = ("id", "name", "last_used_at", "rotated_at", "previous_secret_expires_at",
              "rotation_required_at", "expires_at")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("application_credential", metavar="<application-credential>",
                            help="Application credential (name or ID)")
        parser.add_argument("--user", metavar="<user>",
                            help="User that owns the credential (name or ID; default: the current user)")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.lintel
        user_id = _user_id(self.app, parsed_args.user)
        cred_id = client.credential_id(user_id, parsed_args.application_credential)
        cred = client.get(f"/users/{user_id}/application_credentials/{cred_id}")["application_credential"]
        return _show({k: cred.get(k) for k in self.FIELDS})


class CreateServiceAccount(command.ShowOne):
    """Create a service account of a project (a user the project owns; its managers manage its credentials)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="New service account name")
        parser.add_argument("--project", metavar="<project>",
                            help="Owning project (name or ID; default: the current project)")
        parser.add_argument("--role", metavar="<role>", action="append", default=[],
                            help="Role (name) it holds on the project; repeat for more")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.lintel
        project_id = _project_id(self.app, parsed_args.project)
        return _show(client.create_service_account(project_id, parsed_args.name, parsed_args.role))


class ListServiceAccounts(command.Lister):
    """List a project's service accounts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--project", metavar="<project>",
                            help="Owning project (name or ID; default: the current project)")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.lintel
        project_id = _project_id(self.app, parsed_args.project)
        columns = ("id", "name", "project_id", "domain_id", "enabled")
        rows = [tuple(a.get(c) for c in columns) for a in client.service_accounts(project_id)]
        return ("ID", "Name", "Project ID", "Domain ID", "Enabled"), rows
