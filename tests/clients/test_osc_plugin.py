"""The repository's openstack CLI plugin (osc-lintel/) through the real `openstack` CLI: rotation under the same
id and service accounts (docs/service-accounts.md). Stock commands are tested in test_openstack_cli.py."""

from __future__ import annotations


def test_rotate_keeps_the_id_and_show_has_the_last_use(lintel, make_name):
    name = make_name("ac-rotate")
    cred = lintel.openstack_json("application", "credential", "create", "--secret", "first-secret", name)
    rotated = lintel.openstack_json("application", "credential", "rotate", "--grace-period", "600", name)
    assert rotated["ID"] == cred["ID"], (rotated, cred)
    assert rotated["Secret"] and rotated["Secret"] != "first-secret", rotated
    assert rotated["Previous Secret Expires At"], rotated
    # A second rotation within the window is refused, with the server's words.
    res = lintel.openstack_raw("application", "credential", "rotate", name)
    assert res.returncode != 0 and "rotated again after" in res.output, res.output
    # What the stock `show` leaves out.
    usage = lintel.openstack_json("application", "credential", "usage", name)
    assert usage["ID"] == cred["ID"] and usage["Rotated At"], usage
    assert "Last Used At" in usage and "Rotation Required At" in usage, usage


def test_service_account_create_and_list(lintel, make_name):
    name = make_name("sa")
    sa = lintel.openstack_json("service", "account", "create", "--role", "member", name)
    assert sa["Name"] == name and sa["Project ID"], sa
    listed = lintel.openstack_json("service", "account", "list")
    assert any(a["ID"] == sa["ID"] and a["Name"] == name for a in listed), listed
    # It is a user every stock command knows.
    assert lintel.openstack_json("user", "show", sa["ID"])["name"] == name
