"""Server logic without transport: session-validation matrix, serving classes, scheduler, mailboxes,
manifest and Zenoh config (TLS pass-through), the CLI's flag handling."""

from __future__ import annotations

import pytest

from lerobot_core.inference.manifest import (
    ModelSpec,
    PolicyServerManifest,
    ZenohSpec,
    build_zenoh_config,
    zenoh_config_entries,
)
from lerobot_core.inference.schema import MsgHeader, SessionOpenMsg
from lerobot_core.inference.server import PolicyServer, RoundRobinScheduler, Session
from lerobot_core.inference.server_cmd import _manifest_to_config_path, main
from lerobot_core.inference.validation import ServingClass, classify_policy, resolve_serving_mode
from lerobot_core.policies import DiffusionConfig, DiffusionPolicy

from .conftest import ACTION_NAMES, CAMERAS, STATE_DIM, tiny_act_policy


def server(**kw) -> PolicyServer:
    policy, pre, post = tiny_act_policy()
    manifest = PolicyServerManifest(model=ModelSpec(repo_or_path="tiny"), default_task="stack",
                                    action_names=list(ACTION_NAMES), **kw)
    return PolicyServer(manifest, policy=policy, preprocessor=pre, postprocessor=post)


def good(**kw) -> SessionOpenMsg:
    args = dict(client_uuid="r1", fps=30.0, action_names=list(ACTION_NAMES), camera_names=list(CAMERAS),
                state_dim=STATE_DIM, task="stack", policy_type="act")
    args.update(kw)
    return SessionOpenMsg(**args)


@pytest.mark.parametrize("msg,kw,error", [
    (good(), {}, ""),
    (good(schema_version=2), {}, "schema_version 2 unsupported"),
    (good(action_names=list(reversed(ACTION_NAMES))), {}, "names/order mismatch"),
    (good(action_names=ACTION_NAMES[:2]), {}, "names/order mismatch"),
    (good(state_dim=STATE_DIM + 1), {}, "state_dim mismatch"),
    (good(camera_names=CAMERAS[:1]), {}, "cameras missing"),
    (good(camera_names=[*CAMERAS, "observation.images.extra"]), {}, ""),
    (good(task="other"), {"pin_task": True}, "task is pinned"),
    (good(task="other"), {}, ""),
    (good(fps=15.0), {"strict_fps": True}, "fps mismatch"),
    (good(fps=15.0), {}, ""),
    (good(client_uuid=""), {}, "client_uuid is required"),
])
def test_session_validation_matrix(msg, kw, error) -> None:
    ack = server(**kw).handle_session_open(msg)
    assert ack.accepted == (not error)
    assert error in ack.error
    if ack.accepted:
        assert ack.session_id and ack.action_names == ACTION_NAMES and ack.serving_mode == "shared"


def test_warnings_capacity_and_same_uuid_reopen() -> None:
    s = server(max_sessions=2)
    ack = s.handle_session_open(good(fps=15.0, policy_type="diffusion", rtc_enabled=True))
    assert ack.accepted and not ack.supports_rtc
    assert any("fps mismatch" in w for w in ack.warnings) and any("downgrading" in w for w in ack.warnings)
    first = s.sessions["r1"]
    assert s.handle_session_open(good()).accepted  # same uuid replaces, does not count toward capacity
    assert s.sessions["r1"] is not first and s.metrics["sessions_closed_total"] == 1
    assert s.handle_session_open(good(client_uuid="r2")).accepted
    full = s.handle_session_open(good(client_uuid="r3"))
    assert not full.accepted and full.error == "server full: 2/2 sessions active"
    # per-session processors: no two sessions share pipeline objects
    assert s.sessions["r1"].preprocessor is not s.sessions["r2"].preprocessor


def test_serving_classes() -> None:
    policy, _, _ = tiny_act_policy()
    assert classify_policy(policy).serving_class is ServingClass.SHARED
    diffusion = DiffusionPolicy(DiffusionConfig(input_features=policy.config.input_features,
                                                output_features=policy.config.output_features, device="cpu",
                                                down_dims=(8, 16), pretrained_backbone_weights=None,
                                                crop_shape=None))
    cls = classify_policy(diffusion)
    assert cls.serving_class is ServingClass.EXCLUSIVE
    assert resolve_serving_mode(cls, PolicyServerManifest(max_sessions=5)) == ("exclusive", 1)
    with pytest.raises(ValueError, match="unsafe"):
        resolve_serving_mode(cls, PolicyServerManifest(serving_mode="shared"))
    assert resolve_serving_mode(classify_policy(policy), PolicyServerManifest(serving_mode="exclusive"))[1] == 1

    class NoChunk:
        config = policy.config
    assert classify_policy(NoChunk()).serving_class is ServingClass.REFUSED


def test_round_robin_is_fair() -> None:
    sched = RoundRobinScheduler()
    sessions = [Session(f"s{i}", f"c{i}", "", None, None) for i in range(3)]
    served = [sched.select(sessions)[0].client_uuid for _ in range(6)]
    assert served == ["c0", "c1", "c2", "c0", "c1", "c2"]
    pair = [sessions[2], sessions[0]]  # c1 has nothing pending
    assert [sched.select(pair)[0].client_uuid for _ in range(3)] == ["c0", "c2", "c0"]
    assert sched.select([]) == []


def test_mailbox_is_latest_only_and_counts_superseded() -> None:
    s = Session("s", "c", "", None, None)
    for seq in (1, 2, 3):
        s.deposit(MsgHeader(seq_id=seq), b"x")
    item = s.take()
    assert item.header.seq_id == 3 and s.take() is None
    assert s.stats.superseded == 2 and s.take_superseded() == 2 and s.take_superseded() == 0


def test_zenoh_config_and_tls_pass_through(tmp_path) -> None:
    spec = ZenohSpec(mode="peer", listen_endpoints=["tls/127.0.0.1:0"], tls_root_ca_certificate="ca.pem",
                     tls_connect_certificate="cert.pem", tls_connect_private_key="key.pem",
                     extra_config_json='{"transport/link/tx/lease": 5000}')
    entries = zenoh_config_entries(spec)
    assert entries["scouting/multicast/enabled"] is False and entries["mode"] == "peer"
    assert entries["transport/link/tls/root_ca_certificate"] == "ca.pem"
    assert entries["transport/link/tls/listen_certificate"] == "cert.pem"
    assert entries["transport/link/tls/enable_mtls"] is True and entries["transport/link/tx/lease"] == 5000
    build_zenoh_config(ZenohSpec(mode="peer", listen_endpoints=["tcp/127.0.0.1:0"]))  # accepted by zenoh
    from lerobot_core.inference.remote import RemoteInferenceConfig

    client = RemoteInferenceConfig(connect_endpoint="tls/router:7447", tls_ca="ca.pem", tls_cert="c.pem",
                                   tls_key="k.pem", service_model_id="m")
    entries = zenoh_config_entries(client.zenoh_spec())
    assert entries["connect/endpoints"] == ["tls/router:7447"] and entries["mode"] == "client"
    assert entries["transport/link/tls/connect_private_key"] == "k.pem"
    with pytest.raises(ValueError, match="all three"):
        ZenohSpec(mode="peer", tls_root_ca_certificate="ca.pem").validate()
    with pytest.raises(ValueError, match="connect_endpoints"):
        ZenohSpec(mode="client").validate()
    with pytest.raises(ValueError, match="serving_mode"):
        PolicyServerManifest(serving_mode="sometimes")


def test_cli_flags_and_manifest(tmp_path, capsys) -> None:
    assert _manifest_to_config_path(["--manifest", "a.yaml", "--manifest=b.yaml"]) == [
        "--config_path", "a.yaml", "--config_path=b.yaml"]
    manifest = tmp_path / "server.yaml"
    manifest.write_text("model: {repo_or_path: ''}\nzenoh: {mode: peer, listen_endpoints: ['tcp/127.0.0.1:0']}\n")
    assert main(["--manifest", str(manifest)]) == 2
    assert "model.repo_or_path is required" in capsys.readouterr().err


def test_exclusive_serving_for_a_stateful_policy() -> None:
    import numpy as np

    from lerobot_core.inference.codec import encode_observation
    from lerobot_core.inference.schema import ObservationMsg
    from lerobot_core.policies import make_pre_post_processors

    act, _, _ = tiny_act_policy()
    cfg = DiffusionConfig(input_features=act.config.input_features, output_features=act.config.output_features,
                          device="cpu", down_dims=(8, 16), pretrained_backbone_weights=None, crop_shape=None,
                          num_inference_steps=2, horizon=8, n_action_steps=4)
    policy = DiffusionPolicy(cfg)
    stats = {"observation.state": {"min": -np.ones(STATE_DIM), "max": np.ones(STATE_DIM)},
             "action": {"min": -np.ones(3), "max": np.ones(3)}}
    for cam in CAMERAS:
        stats[cam] = {"mean": np.full((3, 1, 1), 0.5), "std": np.full((3, 1, 1), 0.25)}
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    s = PolicyServer(PolicyServerManifest(model=ModelSpec(repo_or_path="diff"), max_sessions=5, trained_fps=10.0),
                     policy=policy, preprocessor=pre, postprocessor=post)
    assert s.serving_mode == "exclusive" and s.max_sessions == 1
    assert s.handle_session_open(good(fps=10.0)).accepted
    refused = s.handle_session_open(good(client_uuid="r2", fps=10.0))
    assert not refused.accepted and refused.error == "server full: 1/1 sessions active"
    rng = np.random.default_rng(0)
    obs = ObservationMsg(state=np.zeros(STATE_DIM, np.float32), jpeg_quality=0, episode_start=True,
                         images={c: rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for c in CAMERAS})
    session = s.sessions["r1"]
    session.deposit(MsgHeader(seq_id=1), encode_observation(obs))
    reply = s.serve_one(session)
    assert reply is not None and reply.chunk_robot.shape == (4, 3) and session.episode_id == 0
    assert s.metrics["requests_total"] == 1 and s.metrics["errors_total"] == 0
