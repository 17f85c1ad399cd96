"""``python -m hall_web``: the hall's web server.

python -m hall_web run --config config/web.yaml      serve (hall display, consoles, …)
python -m hall_web user add zhang.wei --name 张伟 --role staff   (accounts; see --help)
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import ConfigFileError, load_model


def load_all(path: str) -> tuple[object, HallConfig]:
    from hall_web import settings as ws

    web = ws.load(path)
    hall = load_model(HallConfig, web.path(web.hall_config))
    return web, hall


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from hall_web.app import create_app

    try:
        web, hall = load_all(args.config)
    except ConfigFileError as err:
        print(err, file=sys.stderr)
        return 2
    app = create_app(web, hall)  # type: ignore[arg-type]
    port = args.port if args.port is not None else web.port  # type: ignore[attr-defined]
    print(f"hall web server on http://{web.listen}:{port}/", flush=True)  # type: ignore[attr-defined]
    # what start-up built lives as long as the process: out of the collector's way, so
    # that its full collections (pauses every live stream waits behind) stay short
    gc.freeze()
    uvicorn.run(
        app,
        host=web.listen,  # type: ignore[attr-defined]
        port=port,
        log_level="warning",
        access_log=False,
        # live streams never end by themselves: at a stop they get 3 s, then are closed
        # (the browsers reconnect to the next server by themselves)
        timeout_graceful_shutdown=3,
    )
    return 0


def cmd_user(args: argparse.Namespace, rest: list[str]) -> int:
    from hall_web.auth import user_command

    try:
        web, _hall = load_all(args.config)
    except ConfigFileError as err:
        print(err, file=sys.stderr)
        return 2
    db = web.path(web.data_dir) / "accounts.db"  # type: ignore[attr-defined]
    return user_command(rest, db)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    p = argparse.ArgumentParser(
        prog="python -m hall_web",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="config/web.yaml", help="web.yaml (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="serve the hall's web faces")
    r.add_argument("--port", type=int, default=None, help="override web.yaml's port")
    sub.add_parser("user", help="staff accounts: add, passwd, remove, list", add_help=False)
    sh = sub.add_parser("screenshots", help="draw every page into OUTDIR (a throw-away hall)")
    sh.add_argument("outdir")
    args, rest = p.parse_known_args(argv)
    if args.cmd == "screenshots":
        from hall_web.shots import take

        for f in take(Path(args.outdir)):
            print(f)
        return 0
    if args.cmd == "run":
        if rest:
            p.error(f"unknown arguments {rest}")
        return cmd_run(args)
    return cmd_user(args, rest)


if __name__ == "__main__":
    sys.exit(main())
