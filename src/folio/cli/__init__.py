"""The command line: a thin layer of click commands over the Python API (docs/cli.md).

``app`` holds the group and the core commands; ``common`` what every command module shares
(JSON output, opening the repo, progress, the escaping of everything printed); ``remote``,
``runs`` and ``bundle`` register their commands on the group. Nothing outside this package
imports it, and only this package imports click (import-linter, docs/architecture.md).
"""

from folio.cli.app import main

__all__ = ["main"]
