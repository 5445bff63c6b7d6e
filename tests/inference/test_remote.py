"""Remote inference over a real in-process Zenoh router: streaming, isolation between clients, malformed
input, liveliness/idle GC, episode reset, server loss and return, health and metrics, the audit log."""

from __future__ import annotations

import json
import time
import urllib.request

import msgpack
import numpy as np
import pytest
import zenoh
from helpers.waiting import wait_for

from lerobot_core.inference import (
    BackendUnavailable,
    ChunkRequest,
    ContractError,
    EngineConfig,
    EngineState,
    InferenceEngine,
    compute_chunk,
)
from lerobot_core.inference import server as server_mod
from lerobot_core.inference.codec import decode_action_chunk, decode_observation
from lerobot_core.inference.manifest import DebugSpec
from lerobot_core.inference.remote import RemoteInferenceConfig, RemotePolicyBackend
from lerobot_core.inference.schema import MsgHeader, obs_key, session_key, status_key

from .conftest import ACTION_NAMES, CAMERAS, STATE_DIM, make_observation


def remote_backend(router: str, server, **kw) -> RemotePolicyBackend:
    cfg = RemoteInferenceConfig(connect_endpoint=router, service_model_id=server.manifest.model.repo_or_path,
                                jpeg_quality=0, handshake_timeout_s=1.0,
                                client_uuid=kw.pop("client_uuid", ""))
    args = dict(action_names=list(ACTION_NAMES), camera_names=list(CAMERAS), state_dim=STATE_DIM, fps=30.0,
                task="stack")
    args.update(kw)
    return RemotePolicyBackend(cfg, **args)


def local_chunk(server, obs) -> np.ndarray:
    session = server._new_session("ref", "stack", rtc=False)
    return compute_chunk(server.policy, session.preprocessor, session.postprocessor,
                         ChunkRequest(observation=obs, task="stack")).chunk_robot




@pytest.fixture
def client_session(zenoh_router):
    conf = zenoh.Config()
    conf.insert_json5("mode", '"client"')
    conf.insert_json5("connect/endpoints", json.dumps([zenoh_router]))
    s = zenoh.open(conf)
    yield s
    s.close()


def test_stream_chunks_health_metrics_and_audit(zenoh_router, make_server, tmp_path) -> None:
    server = make_server(audit_log=str(tmp_path / "audit.jsonl"), debug=DebugSpec(capture_dir=str(tmp_path / "cap")))
    backend = remote_backend(zenoh_router, server)
    engine = InferenceEngine(backend, 3, EngineConfig(fps=30, max_observation_age_s=30.0), task="stack")
    engine.connect()
    try:
        assert backend.ack.accepted and backend.ack.chunk_size == 12 and backend.ack.warmed_up
        obs = make_observation(1)
        engine.notify_observation(obs)
        assert engine.run_once() and engine.state is EngineState.STREAMING
        np.testing.assert_array_equal(engine.queue.contents()[1], local_chunk(server, obs))
        base = f"http://127.0.0.1:{server.health_port}"
        assert urllib.request.urlopen(f"{base}/healthz").read() == b"ok\n"
        metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert "lerobot_policy_server_requests_total 1" in metrics
        assert "lerobot_policy_server_active_sessions 1" in metrics
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/nope")
        engine.reset()  # acked reset query: the server adopts the new episode
        engine.notify_observation(make_observation(2))
        assert engine.run_once()
        assert server.sessions[backend.client_uuid].episode_id == 1
    finally:
        engine.stop()
    assert wait_for(lambda: not server.sessions)  # session closed by the client
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["seq_id"] for r in lines] == [1, 2] and all(r["outcome"] == "ok" for r in lines)
    assert set(lines[0]) >= {"session_id", "client_uuid", "episode_id", "queue_wait_ms", "inference_ms", "superseded"}
    # debug capture: the exact request and reply bytes, replayable offline
    req = decode_observation((tmp_path / "cap" / "req_00000.bin").read_bytes())
    np.testing.assert_array_equal(req.images[CAMERAS[0]], obs[CAMERAS[0]])
    rep = decode_action_chunk((tmp_path / "cap" / "rep_00000.bin").read_bytes())
    assert rep.seq_id_echo == 1 and rep.chunk_robot.shape == (12, 3)


def test_two_clients_never_cross_contaminate(zenoh_router, make_server) -> None:
    server = make_server()
    engines, observations = [], []
    for i in range(2):
        backend = remote_backend(zenoh_router, server, client_uuid=f"robot{i}")
        engine = InferenceEngine(backend, 3, EngineConfig(fps=30, buffer_time_s=10.0, max_observation_age_s=30.0),
                                 task="stack")
        engines.append(engine)
        obs = make_observation(10 + i)
        obs["observation.state"] = np.full(STATE_DIM, 3.0 * (i * 2 - 1), np.float32)
        observations.append(obs)
        engine.start()
    try:
        for _ in range(3):
            for engine, obs in zip(engines, observations):
                engine.notify_observation(obs)
            assert wait_for(lambda: all(e.counters["merges"] >= 1 for e in engines))
        for engine, obs in zip(engines, observations):
            np.testing.assert_array_equal(engine.queue.contents()[1][:1], local_chunk(server, obs)[:1])
        a, b = (e.queue.contents()[1] for e in engines)
        assert not np.allclose(a, b)
        assert server.sessions["robot0"].preprocessor is not server.sessions["robot1"].preprocessor
    finally:
        for engine in engines:
            engine.stop()


def test_malformed_input_is_counted_and_the_server_keeps_serving(zenoh_router, make_server, client_session) -> None:
    server = make_server()
    backend = remote_backend(zenoh_router, server, client_uuid="good")
    engine = InferenceEngine(backend, 3, EngineConfig(fps=30, max_observation_age_s=30.0), task="stack")
    engine.connect()
    try:
        bad = client_session.declare_publisher(obs_key(server.prefix, "good"))
        time.sleep(0.3)
        bad.put(b"\xc1garbage", attachment=MsgHeader(seq_id=99).pack())  # good header, bad msgpack
        assert wait_for(lambda: server.metrics["errors_total"] == 1)  # (one mailbox slot: wait before the next)
        bad.put(msgpack.packb({"state": {"dtype": "|O", "shape": [1], "data": b"1234"}}),
                attachment=MsgHeader(seq_id=100).pack())
        assert wait_for(lambda: server.metrics["errors_total"] == 2)
        bad.put(b"x", attachment=b"short")  # bad header
        bad.put(b"x")  # no header
        stranger = client_session.declare_publisher(obs_key(server.prefix, "stranger"))
        time.sleep(0.2)
        stranger.put(b"x", attachment=MsgHeader().pack())
        assert wait_for(lambda: server.metrics["malformed_total"] == 4)
        assert wait_for(lambda: server.metrics["dropped_unknown_client_total"] >= 1)
        replies = list(client_session.get(session_key(server.prefix), payload=b"\x92\x01", timeout=2.0))
        from lerobot_core.inference.codec import decode_session_ack
        ack = decode_session_ack(replies[0].ok.payload.to_bytes())
        assert not ack.accepted and "malformed" in ack.error
        engine.notify_observation(make_observation(5))
        assert engine.run_once() and engine.state is EngineState.STREAMING
        assert next(iter(client_session.get(status_key(server.prefix), timeout=2.0))).ok is not None
        assert server.healthy()
    finally:
        engine.stop()


def test_handshake_failures_abort_before_the_robot_moves(zenoh_router, make_server) -> None:
    server = make_server()
    wrong = remote_backend(zenoh_router, server, action_names=list(reversed(ACTION_NAMES)))
    with pytest.raises(ContractError, match="names/order mismatch"):
        InferenceEngine(wrong, 3).start()
    wrong.close()
    nobody = remote_backend(zenoh_router, server)
    nobody.prefix = "@lerobot/nobody/main/default"
    with pytest.raises(BackendUnavailable, match="No policy server answered"):
        nobody.connect()
    nobody.close()


def test_liveliness_and_idle_gc(zenoh_router, make_server, monkeypatch) -> None:
    monkeypatch.setattr(server_mod, "LIVELINESS_GC_GRACE_S", 0.2)
    monkeypatch.setattr(server_mod, "GC_PERIOD_S", 0.1)
    server = make_server(session_idle_timeout_s=4.0)
    gone = remote_backend(zenoh_router, server, client_uuid="gone")
    gone.connect()
    idle = remote_backend(zenoh_router, server, client_uuid="idle")
    idle.connect()
    assert set(server.sessions) == {"gone", "idle"}
    gone._zenoh.close()  # crash: no session close, the liveliness token disappears
    gone._zenoh = None
    t0 = time.monotonic()
    assert wait_for(lambda: "gone" not in server.sessions, 10.0)
    assert "idle" in server.sessions or time.monotonic() - t0 > 3.5  # (unless the machine stalled for seconds)
    assert wait_for(lambda: "idle" not in server.sessions, 10.0)  # idle timeout
    idle.close()


@pytest.mark.slow
def test_server_loss_fallback_and_recovery(zenoh_router, make_server) -> None:
    server = make_server()
    backend = remote_backend(zenoh_router, server, client_uuid="arm")
    cfg = EngineConfig(fps=30, buffer_time_s=0.2, request_timeout_s=0.5, reconnect_initial_backoff_s=0.1,
                       reconnect_max_backoff_s=0.2, max_offline_s=30.0, fallback="hold")
    engine = InferenceEngine(backend, 3, cfg, task="stack")
    engine.start()
    kinds: list[str] = []

    def tick(n: int) -> None:
        for i in range(n):
            engine.notify_observation(make_observation(i))
            kinds.append(engine.pop_action().kind)
            time.sleep(1 / 30)

    try:
        tick(20)
        assert engine.state in (EngineState.STREAMING, EngineState.DEGRADED) and "policy" in kinds
        server.stop()  # the server goes away (liveliness token dropped first)
        kinds.clear()
        tick(40)
        assert kinds[-1] == "hold" and engine.stats()["starvation"] >= 1
        assert engine.state in (EngineState.STALLED, EngineState.RECONNECTING)
        make_server()  # the server returns
        assert wait_for(lambda: (tick(3), engine.state is EngineState.STREAMING)[1], 20.0)
        kinds.clear()
        tick(10)
        assert "policy" in kinds and engine.counters["reconnects"] >= 1
    finally:
        engine.stop()
