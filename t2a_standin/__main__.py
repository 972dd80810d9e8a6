"""Run the stand-in T2A server: `python -m t2a_standin --port 8765 --token-env T2A_TOKEN`.

The token is read from an environment variable so it never appears on a command line,
in `ps` output or in logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from t2a_standin.data import PRESETS, preset
from t2a_standin.server import make_server

log = logging.getLogger("t2a_standin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t2a_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (logged at start)")
    parser.add_argument("--token-env", default="T2A_TOKEN", help="environment variable holding the bearer token")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=None, help="overrides the preset's seed")
    parser.add_argument("--faults", type=Path, default=None, help="JSON file with a list of fault rules")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    token = os.environ.get(args.token_env)
    if not token:
        parser.error(f"environment variable {args.token_env} is not set (it holds the bearer token)")
    faults = None
    if args.faults is not None:
        try:
            faults = json.loads(args.faults.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"--faults {args.faults}: {exc}")
    config = preset(args.preset, args.seed)
    try:
        server = make_server(config, token, args.host, args.port, faults)
    except ValueError as exc:
        parser.error(f"--faults {args.faults}: {exc}")
    host, port = server.server_address[:2]
    log.info(
        "T2A stand-in listening on http://%s:%s (preset %s, seed %s, %d orgs, %d fault rules)",
        host,
        port,
        args.preset,
        config.seed,
        config.orgs,
        len(server.state.rules),
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
