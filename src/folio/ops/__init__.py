"""The operations: one module per verb family, each taking a ``Workspace`` first.

track (add, untrack, status, ls; with marked, its clean-mark shortcut), checkout (with
recheck), recovery, snapshots, diff, runs and outputs (``folio run`` / ``capture``),
transfer (push, fetch, pull) and remotes, maintenance (gc, verify; with roots), archive
(export, import), check, hooks, setup (init, accept). They import the kernel
(:mod:`folio.workspace`) and the layers below it, never :mod:`folio.repo` (the facade) or the
CLI: docs/architecture.md.
"""
