"""Benchmark folio against DVC, Git LFS and physical floors; print and write a markdown report.

Usage: python benchmarks/run.py [--suite foundation|checkout|all] [--files 20000] [--huge]
       [--skip-peers] [--out results.md] [--workdir DIR]

See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sibling modules, also when imported from elsewhere

import peers  # noqa: E402
import report  # noqa: E402
from suites import SUITES, Context  # noqa: E402


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    ap.add_argument("--files", type=int, default=20_000, help="files in the small workload")
    ap.add_argument("--huge", action="store_true", help="also 1,000,000 files and a 10 GiB file")
    ap.add_argument("--skip-peers", action="store_true", help="no DVC or Git LFS (no installs)")
    ap.add_argument("--out", type=Path, help="write the markdown report here too")
    ap.add_argument("--workdir", type=Path, default=HERE / ".work")
    ap.add_argument("--repeat", type=int, default=3, help="runs per quick step (median)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a step is killed")
    ap.add_argument("--folio", help="command that runs folio (default: PATH, else -m folio.cli)")
    return ap.parse_args(argv)


def base_env(workdir: Path) -> dict[str, str]:
    """The caller's environment with git isolated from global and system config."""
    gitconfig = workdir / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = folio bench\n\temail = bench@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C.UTF-8")
    return env


def contestants(args: argparse.Namespace, env: dict[str, str]) -> list[peers.Contestant]:
    """folio first, then the peers (installed on first use unless --skip-peers)."""
    tools: list[peers.Contestant] = [peers.Folio(env, args.folio)]
    if args.skip_peers:
        return tools
    dvc, note = peers.ensure_dvc(log, args.workdir / "pip-install.log")
    dvc_env = {**env, "DVC_SITE_CACHE_DIR": str(args.workdir / "dvc-site-cache")}
    tools.append(peers.Dvc(dvc_env, dvc, note))
    tools.append(peers.GitLfs(env, peers.ensure_git_lfs(log)))
    for tool in tools[1:]:
        if tool.unavailable:
            log(f"{tool.name} unavailable: {tool.unavailable}")
    return tools


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites and emit the report; exit 0 even when targets fail."""
    args = parse_args(argv)
    workdir = args.workdir = args.workdir.resolve()  # subprocesses run in other cwds
    workdir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(workdir).free / 1e9
    if args.huge and free_gb < 40:
        log(f"warning: --huge needs about 35 GB free in {workdir}; {free_gb:.0f} GB free")
    env = base_env(workdir)
    tools = contestants(args, env)
    if tools[0].unavailable:
        log(f"warning: {tools[0].unavailable}")
    ctx = Context(
        workdir=workdir,
        files=args.files,
        huge=args.huge,
        repeat=args.repeat,
        timeout=args.timeout,
        env=env,
        contestants=tools,
        log=log,
    )
    names = list(SUITES) if args.suite == "all" else [args.suite]
    started = time.perf_counter()
    for name in names:
        log(f"== suite {name}")
        SUITES[name](ctx)
    log(f"== done in {time.perf_counter() - started:.0f} s")
    facts = report.machine_facts(workdir, tools)
    text = report.render(ctx, facts, f"folio benchmarks: {', '.join(names)}")
    print(text)
    if args.out:
        args.out.write_text(text)
    raw = {f"{s}|{c}": m.to_json() for (s, c), m in ctx.results.items()}
    (workdir / "last-results.json").write_text(json.dumps({"facts": facts, "results": raw}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
