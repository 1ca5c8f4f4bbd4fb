"""``emberjit cache info PATH`` and ``emberjit cache clear PATH [--force]`` (wired into
:mod:`emberjit.cli`).

Exit status: 0 done; 2 when the file is missing or cannot be used as a result cache (one line on
stderr naming the file, what was found and the fix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ResultCacheError
from .store import ResultCache, remove_cache_files

__all__ = ["add_commands", "run_cache"]

_EPILOG = """\
examples:
  emberjit cache info results.db           entries, bytes, the operators with most entries
  emberjit cache clear results.db          remove every entry
  emberjit cache clear results.db --force  also replace a file that is not a usable cache

exit status: 0 done, 2 the file is missing or not a usable result cache
"""


def add_commands(commands: Any) -> None:
    """Add ``cache`` (with ``info`` and ``clear``) to the ``emberjit`` subparsers."""
    cache = commands.add_parser(
        "cache", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        help="inspect or empty a persistent result cache file",
        description="Inspect or empty a result cache file (execution_options(cache=PATH) or "
                    "EMBERJIT_CACHE=PATH).")
    actions = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="print the path, entries, bytes and the operators "
                                           "with most entries")
    info.add_argument("path", metavar="PATH", help="the cache file")
    clear = actions.add_parser("clear", help="remove every entry")
    clear.add_argument("path", metavar="PATH", help="the cache file")
    clear.add_argument("--force", action="store_true",
                       help="delete and recreate the file when it is not a usable result cache "
                            "(another program's, corrupt, or a newer schema); only while no "
                            "process has it open")


def run_cache(args: argparse.Namespace) -> int:
    """Run ``emberjit cache info`` or ``emberjit cache clear``."""
    command = f"cache {args.cache_command}"
    path = Path(args.path).expanduser().resolve()
    if not path.is_file():
        return _error(command, f"no result cache at {path} (no such file)")
    try:
        if args.cache_command == "info":
            return _info(path)
        return _clear(path, force=args.force)
    except ResultCacheError as exc:
        return _error(command, str(exc))


def _error(command: str, message: str) -> int:
    print(f"emberjit {command}: error: {message}", file=sys.stderr)
    return 2


def _info(path: Path) -> int:
    with ResultCache(path) as cache:
        stats, top = cache.stats(), cache.top_operators(10)
    print(f"path: {stats.path}\nentries: {stats.entries}\nbytes: {stats.bytes}")
    if top:
        print("operators with most entries:")
        width = max(len(name or "(unnamed)") for name, _, _ in top)
        for name, count, size in top:
            print(f"  {name or '(unnamed)':<{width}}  {count} entries, {size} bytes")
    return 0


def _found(exc: ResultCacheError) -> str:
    """What the error says was there, without the path and the fix."""
    text = str(exc).split(": ", 1)[-1]
    return text.split("; ", 1)[0]


def _clear(path: Path, force: bool) -> int:
    try:
        with ResultCache(path) as cache:
            removed = cache.stats().entries
            cache.clear()
    except ResultCacheError as exc:
        if not force:
            raise
        remove_cache_files(path)
        ResultCache(path).close()
        print(f"replaced {path}: it was not a usable result cache ({_found(exc)}); it is now "
              "an empty one")
        return 0
    print(f"removed {removed} entries from {path}")
    return 0
