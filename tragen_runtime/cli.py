"""`tragen-runtime`: operator commands for a release.

    tragen-runtime migrate [--config PATH]   apply database migrations (once per deploy)
    tragen-runtime check   [--config PATH]   validate config, database schema and cache

Exit 0 on success; 1 when a check fails (each reason on stderr); 3 for an invalid
configuration; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tragen_runtime.configsource import ConfigError
from tragen_runtime.settings import Settings, load_settings
from tragen_runtime.storage.db import DatabaseUnavailable, open_database
from tragen_runtime.storage.migrations import LATEST, current_version, migrate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tragen-runtime", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("migrate", "apply pending database migrations"),
                       ("check", "validate configuration and connectivity")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="configuration file (default: $TRAGEN_CONFIG)")
    return parser


def _migrate(settings: Settings) -> int:
    db = open_database(settings.database)
    try:
        before = current_version(db)
        applied = migrate(db)
    except DatabaseUnavailable as exc:
        print(f"tragen-runtime migrate: database unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(json.dumps({"from_version": before, "applied": applied, "version": LATEST}))
    return 0


def _check(settings: Settings) -> int:
    problems: list[str] = []
    report: dict[str, object] = {"config_digest": settings.config_digest,
                                 "database": settings.database.kind}
    db = open_database(settings.database)
    try:
        version = current_version(db)
        report["schema_version"] = version
        if version < LATEST:
            problems.append(f"database schema at version {version}, release needs {LATEST}: "
                            "run `tragen-runtime migrate`")
    except DatabaseUnavailable as exc:
        problems.append(f"database unreachable: {exc}")
    finally:
        db.close()
    if settings.redis is not None:
        from tragen_runtime.cache import RedisCache

        cache = RedisCache(settings.redis, timeout=2.0)
        if cache.ping():
            report["redis"] = "ok"
        else:
            report["redis"] = "unreachable"
            problems.append(f"redis unreachable ({cache.last_error}); the runtime would serve "
                            "from L1 and the database")
        cache.close()
    for note in settings.notes:
        print(f"tragen-runtime check: warning: {note}", file=sys.stderr)
    print(json.dumps(report))
    for problem in problems:
        print(f"tragen-runtime check: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"tragen-runtime: {exc}", file=sys.stderr)
        return 3
    return _migrate(settings) if args.command == "migrate" else _check(settings)


if __name__ == "__main__":
    raise SystemExit(main())
