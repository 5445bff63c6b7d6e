"""``lerobot-core policy-server --model.repo_or_path=... [--manifest server.yaml]``: serve a policy over Zenoh."""

from __future__ import annotations

import logging
import signal
import sys

from lerobot_core.configs import parse_config
from lerobot_core.inference.manifest import PolicyServerManifest


def _manifest_to_config_path(argv: list[str]) -> list[str]:
    out: list[str] = []
    for arg in argv:
        if arg == "--manifest":
            out.append("--config_path")
        elif arg.startswith("--manifest="):
            out.append("--config_path=" + arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        manifest = parse_config(PolicyServerManifest, _manifest_to_config_path(argv), prog="lerobot-core policy-server")
        manifest.check_ready()
    except ValueError as exc:  # ConfigError is a ValueError too
        print(f"lerobot-core policy-server: {exc}", file=sys.stderr)
        return 2
    from lerobot_core.inference.server import PolicyServer

    server = PolicyServer(manifest)
    server.load_policy()

    def on_sigterm(signum: int, frame: object) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    server.start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
