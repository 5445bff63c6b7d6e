"""Remote inference backend: the client side of ``lerobot-core policy-server``.

Plugged into :class:`~lerobot_core.inference.engine.InferenceEngine` like the local backend: the engine's
worker calls :meth:`RemotePolicyBackend.infer` with one request in flight; Zenoh callbacks only deposit.
``client_mono_ns`` in the header is this machine's monotonic clock, echoed by the server and never compared
with anything from another machine.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lerobot_core.inference import codec
from lerobot_core.inference.engine import BackendUnavailable, ContractError
from lerobot_core.inference.manifest import ZenohSpec, build_zenoh_config
from lerobot_core.inference.policy_runner import ChunkReply, ChunkRequest
from lerobot_core.inference.schema import (
    MSG_TYPE_CHUNK,
    MSG_TYPE_OBS,
    SCHEMA_VERSION,
    MsgHeader,
    ObservationMsg,
    ResetMsg,
    SessionAckMsg,
    SessionCloseMsg,
    SessionOpenMsg,
    action_key,
    client_alive_key,
    obs_key,
    reset_key,
    server_alive_key,
    service_prefix,
    session_key,
    status_key,
)

_log = logging.getLogger(__name__)
STATE_KEY = "observation.state"


@dataclass
class RemoteInferenceConfig:
    connect_endpoint: str = "tcp/localhost:7447"
    zenoh_mode: str = "client"  # "client" (through a router) or "peer"
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    service_model_id: str = ""  # the server's model.repo_or_path
    service_revision: str = "main"
    service_task: str = ""  # the server's service_name or default_task
    client_uuid: str = ""  # "" → a fresh uuid4
    jpeg_quality: int = 90  # 0 sends raw pixels
    handshake_timeout_s: float = 2.0
    rtc_enabled: bool = True  # ask for RTC; downgraded when the server cannot
    tags: dict[str, str] = field(default_factory=dict)

    def zenoh_spec(self) -> ZenohSpec:
        return ZenohSpec(mode=self.zenoh_mode, connect_endpoints=[self.connect_endpoint],
                         tls_root_ca_certificate=self.tls_ca, tls_connect_certificate=self.tls_cert,
                         tls_connect_private_key=self.tls_key)


class RemotePolicyBackend:
    """Session handshake, observation publishing and chunk reception for one robot."""

    def __init__(self, config: RemoteInferenceConfig, *, action_names: list[str], camera_names: list[str],
                 state_dim: int, fps: float, task: str = "", robot_type: str = "", policy_type: str = "") -> None:
        if not config.service_model_id:
            raise ValueError("service_model_id is required: the server's --model.repo_or_path")
        self.config = config
        self.client_uuid = config.client_uuid or uuidlib.uuid4().hex
        self.action_names, self.camera_names = list(action_names), list(camera_names)
        self.state_dim, self.fps, self.task = int(state_dim), float(fps), task
        self.robot_type, self.policy_type = robot_type, policy_type
        self.prefix = service_prefix(config.service_model_id, config.service_revision, config.service_task or task)
        self.ack: SessionAckMsg | None = None
        self._first_ack: SessionAckMsg | None = None
        self.epoch = 0
        self._seq = 0
        self._zenoh: Any = None
        self._decls: list[Any] = []
        self._publisher: Any = None
        self._replies: queue.Queue[tuple[bytes, bytes]] = queue.Queue(maxsize=4)
        self._server_alive = threading.Event()
        self._lock = threading.Lock()  # connect/close may race when the engine stops while reconnecting
        self._closed = False
        self.dropped_replies = 0

    # ---------------------------------------------------------------------------------------------- helpers
    def _open(self) -> Any:
        if self._closed:
            raise BackendUnavailable("the remote backend is closed")
        if self._zenoh is None:
            import zenoh

            self._zenoh = zenoh.open(build_zenoh_config(self.config.zenoh_spec()))
        return self._zenoh

    def _query(self, key: str, payload: bytes, timeout: float) -> bytes | None:
        for reply in self._open().get(key, payload=payload, timeout=timeout):
            if reply.ok is not None:
                return reply.ok.payload.to_bytes()
        return None

    def _on_action(self, sample: Any) -> None:
        try:
            att = sample.attachment.to_bytes() if sample.attachment is not None else b""
            item = (att, sample.payload.to_bytes())
            while True:
                try:
                    self._replies.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._replies.get_nowait()
                        self.dropped_replies += 1
                    except queue.Empty:
                        pass
        except Exception:
            _log.exception("action callback failed")

    def _on_server_liveliness(self, sample: Any) -> None:
        import zenoh

        if sample.kind == zenoh.SampleKind.DELETE:
            self._server_alive.clear()
        else:
            self._server_alive.set()

    # ------------------------------------------------------------------------------------------ backend API
    def connect(self) -> None:
        import zenoh

        timeout = self.config.handshake_timeout_s
        raw = self._query(status_key(self.prefix), b"", timeout)
        if raw is None:
            raise BackendUnavailable(f"No policy server answered status query at '{status_key(self.prefix)}'")
        try:
            status = codec.decode_status(raw)
        except ValueError as exc:
            raise ContractError(f"unreadable status reply: {exc}") from None
        if not status.min_schema_version <= SCHEMA_VERSION <= status.max_schema_version:
            raise ContractError(f"server speaks schema {status.min_schema_version}..{status.max_schema_version}, "
                                f"this client {SCHEMA_VERSION}")
        open_msg = SessionOpenMsg(client_uuid=self.client_uuid, robot_type=self.robot_type,
                                  policy_type=self.policy_type, fps=self.fps, action_names=self.action_names,
                                  camera_names=self.camera_names, state_dim=self.state_dim,
                                  rtc_enabled=self.config.rtc_enabled, task=self.task, tags=dict(self.config.tags))
        raw = self._query(session_key(self.prefix), codec.encode_session_open(open_msg), timeout)
        if raw is None:
            raise BackendUnavailable(f"no answer to the session open at '{session_key(self.prefix)}'")
        ack = codec.decode_session_ack(raw)
        if not ack.accepted:
            if ack.error.startswith("server full"):
                raise BackendUnavailable(ack.error)
            raise ContractError(f"session refused: {ack.error}")
        if ack.action_names and list(ack.action_names) != self.action_names:
            raise ContractError("Action name/order mismatch between server policy and this robot: "
                                f"{ack.action_names} vs {self.action_names}")
        first = self._first_ack
        if first is not None and ((ack.model_repo, ack.model_revision, ack.supports_rtc)
                                  != (first.model_repo, first.model_revision, first.supports_rtc)):
            raise ContractError(f"reconnected server runs {ack.model_repo}@{ack.model_revision}, expected "
                                f"{first.model_repo}@{first.model_revision}")
        for warning in ack.warnings:
            _log.warning("policy server: %s", warning)
        self.ack, self._first_ack = ack, first or ack
        self.epoch += 1
        with self._lock:
            self._declare(zenoh)

    def _declare(self, zenoh: Any) -> None:
        z = self._open()
        self._drain()
        self._server_alive.set()
        direct = zenoh.handlers.Callback
        self._decls = [
            z.declare_subscriber(action_key(self.prefix, self.client_uuid), direct(self._on_action, indirect=False)),
            z.liveliness().declare_subscriber(server_alive_key(self.prefix),
                                              direct(self._on_server_liveliness, indirect=False), history=True),
            z.liveliness().declare_token(client_alive_key(self.prefix, self.client_uuid)),
        ]
        self._publisher = z.declare_publisher(obs_key(self.prefix, self.client_uuid),
                                              reliability=zenoh.Reliability.BEST_EFFORT,
                                              congestion_control=zenoh.CongestionControl.DROP,
                                              express=False, priority=zenoh.Priority.DATA)
        self._decls.append(self._publisher)

    def _drain(self) -> None:
        while True:
            try:
                self._replies.get_nowait()
            except queue.Empty:
                return

    def encode_request(self, request: ChunkRequest) -> tuple[MsgHeader, bytes]:
        obs = request.observation
        state = obs.get(STATE_KEY)
        images = {k: v for k, v in obs.items() if k != STATE_KEY and np.ndim(v) == 3}
        msg = ObservationMsg(state=None if state is None else np.asarray(state, np.float32), images=images,
                             task=request.task, inference_delay_steps=int(request.delay_steps),
                             prefix_model=request.prefix_model, prefix_robot=request.prefix_robot,
                             episode_start=request.episode_start, jpeg_quality=self.config.jpeg_quality)
        self._seq += 1
        header = MsgHeader(SCHEMA_VERSION, MSG_TYPE_OBS, self._seq, request.episode_id, time.monotonic_ns(),
                           self.epoch)
        return header, codec.encode_observation(msg)

    def infer(self, request: ChunkRequest, timeout_s: float) -> ChunkReply:
        if self._publisher is None:
            raise BackendUnavailable("not connected")
        header, payload = self.encode_request(request)
        self._drain()
        self._publisher.put(payload, attachment=header.pack())
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendUnavailable(f"no chunk for seq {header.seq_id} within {timeout_s:.1f} s")
            if not self._server_alive.is_set():
                raise BackendUnavailable("server liveliness token dropped")
            try:
                att, body = self._replies.get(timeout=min(remaining, 0.05))
            except queue.Empty:
                continue
            try:
                echo = MsgHeader.unpack(att)
            except ValueError:
                self.dropped_replies += 1
                continue
            if (echo.msg_type, echo.seq_id, echo.episode_id, echo.session_epoch) != (
                    MSG_TYPE_CHUNK, header.seq_id, header.episode_id, header.session_epoch):
                self.dropped_replies += 1  # late answer to an older request, episode or session
                continue
            try:
                chunk = codec.decode_action_chunk(body)
            except ValueError as exc:
                self.dropped_replies += 1
                _log.warning("undecodable chunk dropped: %s", exc)
                continue
            if chunk.chunk_robot is None or chunk.chunk_robot.size == 0:
                raise BackendUnavailable("server sent an empty chunk")
            return ChunkReply(chunk_model=chunk.chunk_model, chunk_robot=chunk.chunk_robot,
                              inference_ms=chunk.inference_ms, queue_wait_ms=chunk.queue_wait_ms,
                              superseded=chunk.superseded_seqs, server_load=chunk.server_load)

    def alive(self) -> bool:
        return self._server_alive.is_set()

    def reset(self, episode_id: int) -> None:
        if self._zenoh is None or self.ack is None:
            return
        try:
            raw = self._query(reset_key(self.prefix, self.client_uuid),
                              codec.encode_reset(ResetMsg(client_uuid=self.client_uuid, episode_id=episode_id)), 1.0)
            ack = codec.decode_reset_ack(raw) if raw is not None else None
            if ack is None or not ack.ok:
                _log.warning("episode reset not acknowledged (%s)", ack.error if ack else "no reply")
        except Exception as exc:
            _log.warning("episode reset failed: %s", exc)

    def disconnect(self) -> None:
        for decl in self._decls:
            with contextlib.suppress(Exception):
                decl.undeclare()
        self._decls, self._publisher = [], None
        self._server_alive.clear()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        if self._zenoh is not None and self.ack is not None and self._publisher is not None:
            try:
                msg = SessionCloseMsg(client_uuid=self.client_uuid, session_id=self.ack.session_id)
                self._query(session_key(self.prefix), codec.encode_session_close(msg), 0.5)
            except Exception:
                pass
        self.disconnect()
        self._closed = True
        if self._zenoh is not None:
            self._zenoh.close()
            self._zenoh = None
