"""The `openstack` CLI (python-openstackclient) run in this interpreter, as its console script would run it.

A new Python process per command costs about a second of CPU, mostly imports; the entry point called with argv
runs the same code in a few tens of milliseconds once the first call has imported it. Used by the client suite
(tests/clients/conftest.py) and by the Keystone move (tests/keystone_import/populate.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Mapping


def openstack(args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run `openstack ARGS` with `env` as the whole environment; return (exit status, stdout, stderr).

    The CLI keeps no state between runs that matters (each run builds its shell, configuration and session anew);
    what it changes globally is put back: the environment, the root logger's handlers and every logger's level
    (its log configurator adds a console handler bound to the captured stderr) and the `warnings` filters."""
    from openstackclient import shell  # imported on first use: the slow part of every start

    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
                    if isinstance(lg, logging.Logger)}
    try:
        os.environ.clear()
        os.environ.update(env)
        root.handlers[:] = []  # only the CLI's own console handler, as in a process of its own
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = shell.main(list(args))
            except SystemExit as exc:  # argparse (usage errors, --help) exits
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.setLevel(saved_levels.get(name, logging.NOTSET))
    return (rc if isinstance(rc, int) else 1), out.getvalue(), err.getvalue()
