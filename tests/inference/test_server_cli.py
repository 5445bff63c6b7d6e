"""``lerobot-core policy-server`` as a process: serves from a manifest, drains and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import zenoh

from lerobot_core.inference.codec import decode_status
from lerobot_core.inference.schema import server_alive_key, service_prefix, status_key


@pytest.mark.e2e
def test_policy_server_cli_sigterm_drain(zenoh_router, tiny_checkpoint, tmp_path) -> None:
    manifest = tmp_path / "server.yaml"
    manifest.write_text(
        f"model: {{repo_or_path: '{tiny_checkpoint}', device: cpu}}\n"
        "default_task: stack\nwarmup_inferences: 1\nhealth_port: 0\n"
        f"zenoh: {{mode: client, connect_endpoints: ['{zenoh_router}']}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "lerobot_core.cli", "policy-server", "--manifest", str(manifest),
                             "--max_sessions=3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ))
    conf = zenoh.Config()
    conf.insert_json5("mode", '"client"')
    conf.insert_json5("connect/endpoints", json.dumps([zenoh_router]))
    session = zenoh.open(conf)
    prefix = service_prefix(str(tiny_checkpoint), "main", "stack")
    dropped = threading.Event()
    sub = session.liveliness().declare_subscriber(
        server_alive_key(prefix), lambda s: dropped.set() if s.kind == zenoh.SampleKind.DELETE else None)
    try:
        status = None
        deadline = time.monotonic() + 60
        while status is None and time.monotonic() < deadline and proc.poll() is None:
            for reply in session.get(status_key(prefix), timeout=0.5):
                if reply.ok is not None:
                    status = decode_status(reply.ok.payload.to_bytes())
            time.sleep(0.2)
        assert status is not None, proc.stdout.read() if proc.poll() is not None else "no status reply"
        assert status.max_sessions == 3 and status.policy_type == "act" and status.warmed_up
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert dropped.wait(5), "the server's liveliness token was not dropped"
        assert "Policy server up" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.undeclare()
        session.close()
