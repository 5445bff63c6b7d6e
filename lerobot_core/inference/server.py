"""``PolicyServer``: serves one policy to many robots over Zenoh (see ``docs/inference.md``).

Threads: Zenoh callbacks only deposit (observations into one latest-only mailbox per session) or answer
control queries; one worker thread owns the policy and serves one session per cycle, round-robin by client
uuid; a stdlib HTTP thread serves ``/healthz`` and ``/metrics``. Every session gets its own pre/post
processors; in exclusive mode (stateful policies) only one session is allowed and episode boundaries call
``policy.reset()``. Malformed messages are counted and dropped; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.inference import codec
from lerobot_core.inference.manifest import SERVING_MODE_EXCLUSIVE, PolicyServerManifest, build_zenoh_config
from lerobot_core.inference.policy_runner import ChunkRequest, compute_chunk, supports_rtc
from lerobot_core.inference.schema import (
    MSG_TYPE_CHUNK,
    MSG_TYPE_OBS,
    SCHEMA_VERSION,
    ActionChunkMsg,
    MsgHeader,
    ObservationMsg,
    ResetAckMsg,
    SessionAckMsg,
    SessionOpenMsg,
    StatusMsg,
    action_key,
    client_alive_key,
    client_alive_wildcard,
    client_uuid_from_key,
    obs_wildcard,
    reset_wildcard,
    server_alive_key,
    service_prefix,
    session_key,
    status_key,
)
from lerobot_core.inference.validation import classify_policy, resolve_serving_mode, validate_session_open

_log = logging.getLogger(__name__)
audit_log = logging.getLogger("lerobot.policy_server.audit")

LIVELINESS_GC_GRACE_S = 5.0
WORKER_IDLE_WAIT_S = 0.05
GC_PERIOD_S = 1.0
MAX_UNKNOWN_WARNINGS = 256


# ------------------------------------------------------------------------------------------------- sessions
@dataclass
class MailboxItem:
    header: MsgHeader
    payload: bytes
    recv_mono: float


@dataclass
class SessionStats:
    requests: int = 0
    errors: int = 0
    superseded: int = 0
    superseded_since_reply: int = 0
    last_inference_ms: float = 0.0
    last_queue_wait_ms: float = 0.0


@dataclass
class Session:
    session_id: str
    client_uuid: str
    task: str
    preprocessor: Any
    postprocessor: Any
    rtc_enabled: bool = False
    publisher: Any = None
    episode_id: int = -1  # sentinel: the first observation always starts an episode
    stats: SessionStats = field(default_factory=SessionStats)
    alive: bool = True
    last_seen_mono: float = field(default_factory=time.monotonic)
    token_dropped_mono: float | None = None
    _slot: MailboxItem | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deposit(self, header: MsgHeader, payload: bytes) -> None:
        with self._lock:
            if self._slot is not None:
                self.stats.superseded += 1
                self.stats.superseded_since_reply += 1
            now = time.monotonic()
            self._slot = MailboxItem(header, payload, now)
            self.last_seen_mono = now

    def take(self) -> MailboxItem | None:
        with self._lock:
            item, self._slot = self._slot, None
            return item

    def take_superseded(self) -> int:
        with self._lock:
            n, self.stats.superseded_since_reply = self.stats.superseded_since_reply, 0
            return n

    def has_pending(self) -> bool:
        return self._slot is not None

    def reset_episode(self, episode_id: int | None = None) -> None:
        with self._lock:
            self._slot = None
        self.preprocessor.reset()
        self.postprocessor.reset()
        self.episode_id = self.episode_id + 1 if episode_id is None else int(episode_id)

    def close(self) -> None:
        with self._lock:
            self._slot = None
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                self.publisher.undeclare()
            self.publisher = None


class RoundRobinScheduler:
    """Serves one ready session per call, in client-uuid order, starting after the last one served."""

    def __init__(self) -> None:
        self._last_served: str | None = None

    def select(self, ready: list[Session]) -> list[Session]:
        if not ready:
            return []
        ring = sorted(ready, key=lambda s: s.client_uuid)
        nxt = next((s for s in ring if self._last_served is None or s.client_uuid > self._last_served), ring[0])
        self._last_served = nxt.client_uuid
        return [nxt]


# --------------------------------------------------------------------------------------------------- server
def _clone_pipeline(pipeline: Any) -> Any:
    return type(pipeline).from_config(pipeline.get_config(), state_dict=pipeline.state_dict(),
                                      to_transition=pipeline.to_transition, to_output=pipeline.to_output)


class PolicyServer:
    """One policy served to up to ``max_sessions`` clients. ``policy``/``preprocessor``/``postprocessor``
    may be injected (tests); otherwise :meth:`load_policy` loads ``manifest.model``."""

    def __init__(self, manifest: PolicyServerManifest, *, policy: Any = None, preprocessor: Any = None,
                 postprocessor: Any = None, scheduler: RoundRobinScheduler | None = None) -> None:
        self.manifest = manifest
        self.policy = policy
        self._pre_template, self._post_template = preprocessor, postprocessor
        self.scheduler = scheduler or RoundRobinScheduler()
        self.prefix = service_prefix(manifest.model.repo_or_path, manifest.model.revision,
                                     manifest.service_name or manifest.default_task or "default")
        self.sessions: dict[str, Session] = {}
        self._registry_lock = threading.RLock()
        self._inference_lock = threading.Lock()
        self._work = threading.Event()
        self._shutdown = threading.Event()
        self.metrics: dict[str, int] = dict.fromkeys(
            ("requests_total", "errors_total", "superseded_total", "dropped_unknown_client_total",
             "malformed_total", "sessions_opened_total", "sessions_closed_total"), 0)
        self._metrics_lock = threading.Lock()
        self._warned_unknown: set[str] = set()
        self._zenoh: Any = None
        self._decls: list[Any] = []
        self._alive_token: Any = None
        self._worker: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self.health_port = 0
        self._audit_file: Any = None
        self._capture_count = 0
        self.serving_mode = ""
        self.max_sessions = manifest.max_sessions
        self.rtc_horizon = 0
        self.warmed_up = False
        if policy is not None:
            self._configure_policy()

    # ---------------------------------------------------------------------------------------- policy set-up
    def load_policy(self) -> None:
        from lerobot_core.policies import PreTrainedConfig, make_policy, make_pre_post_processors

        m = self.manifest.model
        self.manifest.check_ready()
        kwargs = {"revision": m.revision} if m.revision and m.revision != "main" else {}
        cfg = PreTrainedConfig.from_pretrained(m.repo_or_path, **kwargs)
        cfg.device = m.device
        cfg.pretrained_path = m.repo_or_path
        policy = make_policy(cfg)
        if m.dtype:
            import torch

            policy = policy.to(getattr(torch, m.dtype))
        self.policy = policy
        self._pre_template, self._post_template = make_pre_post_processors(cfg, pretrained_path=m.repo_or_path)
        self._configure_policy()
        if self.manifest.warmup_inferences > 0:
            self._warmup(self.manifest.warmup_inferences)

    def _configure_policy(self) -> None:
        self.classification = classify_policy(self.policy)
        self.serving_mode, self.max_sessions = resolve_serving_mode(self.classification, self.manifest)
        if self.serving_mode == SERVING_MODE_EXCLUSIVE and self.manifest.max_sessions > 1:
            _log.warning("exclusive serving (%s): max_sessions forced to 1", self.classification.reason)
        rtc = self.manifest.rtc
        self.rtc_horizon = rtc.execution_horizon if (rtc.enabled and self.classification.supports_rtc
                                                     and supports_rtc(self.policy)) else 0
        self.policy.eval()
        cfg = self.policy.config
        self.action_dim = int(cfg.action_feature.shape[0])
        names = list(self.manifest.action_names)
        if names and len(names) != self.action_dim:
            raise ValueError(f"action_names has {len(names)} names but the policy outputs {self.action_dim} actions")
        if not names:
            _log.warning("no action_names in the manifest: clients' action names are not checked")

    def _warmup(self, n: int) -> None:
        cfg = self.policy.config
        obs = ObservationMsg(state=np.zeros(self._state_dim() or 1, np.float32), jpeg_quality=0,
                             images={k: np.zeros((*ft.shape[1:], 3), np.uint8) for k, ft in cfg.image_features.items()})
        session = self._new_session("warmup", self.manifest.default_task, rtc=False)
        for _ in range(n):
            self.run_inference_request(session, MsgHeader(), obs)
        session.close()
        if self.serving_mode == SERVING_MODE_EXCLUSIVE:
            self.policy.reset()
        self.warmed_up = True

    def _state_dim(self) -> int:
        ft = self.policy.config.robot_state_feature
        return int(ft.shape[0]) if ft is not None else 0

    def _new_session(self, client_uuid: str, task: str, rtc: bool) -> Session:
        return Session(session_id=uuidlib.uuid4().hex, client_uuid=client_uuid, task=task,
                       preprocessor=_clone_pipeline(self._pre_template),
                       postprocessor=_clone_pipeline(self._post_template), rtc_enabled=rtc)

    def status_snapshot(self) -> StatusMsg:
        cfg = self.policy.config
        chunk = next((int(v) for v in (getattr(cfg, "chunk_size", 0), getattr(cfg, "n_action_steps", 0),
                                       getattr(cfg, "horizon", 0)) if v), 0)
        with self._registry_lock:
            active = len(self.sessions)
        return StatusMsg(
            model_repo=self.manifest.model.repo_or_path, model_revision=self.manifest.model.revision,
            policy_type=str(getattr(cfg, "type", "")), action_names=list(self.manifest.action_names),
            expected_cameras=sorted(cfg.image_features), state_dim=self._state_dim(), chunk_size=chunk,
            trained_fps=self.manifest.trained_fps, supports_rtc=self.rtc_horizon > 0,
            rtc_execution_horizon=self.rtc_horizon, serving_mode=self.serving_mode, warmed_up=self.warmed_up,
            active_sessions=active, max_sessions=self.max_sessions)

    @property
    def server_load(self) -> float:
        return len(self.sessions) / max(1, self.max_sessions)

    def _count(self, name: str, n: int = 1) -> None:
        with self._metrics_lock:
            self.metrics[name] += n

    # ------------------------------------------------------------------------------------ pure compute path
    def run_inference_request(self, session: Session, header: MsgHeader, obs: ObservationMsg) -> ActionChunkMsg:
        """Decoded observation → chunk message (no transport; the golden parity test calls it too)."""
        observation = {name: img for name, img in obs.images.items()}
        if obs.state is not None:
            observation["observation.state"] = np.asarray(obs.state, np.float32)
        request = ChunkRequest(observation=observation, task=obs.task or session.task or self.manifest.default_task,
                               delay_steps=obs.inference_delay_steps, prefix_model=obs.prefix_model,
                               prefix_robot=obs.prefix_robot)
        horizon = self.rtc_horizon if session.rtc_enabled else 0
        reply = compute_chunk(self.policy, session.preprocessor, session.postprocessor, request, rtc_horizon=horizon)
        session.stats.requests += 1
        session.stats.last_inference_ms = reply.inference_ms
        return ActionChunkMsg(
            seq_id_echo=header.seq_id, client_mono_ns_echo=header.client_mono_ns, episode_id_echo=header.episode_id,
            chunk_model=reply.chunk_model, chunk_robot=reply.chunk_robot, inference_ms=reply.inference_ms,
            superseded_seqs=session.take_superseded(), server_load=self.server_load)

    # --------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        import zenoh

        if self.policy is None:
            self.load_policy()
        if self.manifest.audit_log:
            Path(self.manifest.audit_log).parent.mkdir(parents=True, exist_ok=True)
            self._audit_file = open(self.manifest.audit_log, "a", encoding="utf-8")  # noqa: SIM115
        self._zenoh = zenoh.open(build_zenoh_config(self.manifest.zenoh))
        z = self._zenoh
        direct = zenoh.handlers.Callback
        self._decls = [
            z.declare_subscriber(obs_wildcard(self.prefix), direct(self._on_obs, indirect=False)),
            z.declare_queryable(status_key(self.prefix), self._on_status_query),
            z.declare_queryable(session_key(self.prefix), self._on_session_query),
            z.declare_queryable(reset_wildcard(self.prefix), self._on_reset_query),
            z.liveliness().declare_subscriber(client_alive_wildcard(self.prefix),
                                              direct(self._on_liveliness, indirect=False), history=True),
        ]
        self._shutdown.clear()
        self._worker = threading.Thread(target=self._worker_loop, name="PolicyServerWorker", daemon=True)
        self._worker.start()
        self._start_health()
        self._alive_token = z.liveliness().declare_token(server_alive_key(self.prefix))
        _log.info("Policy server up: %s (%s, %s, max_sessions=%d, health port %s)", self.prefix,
                  getattr(self.policy.config, "type", "?"), self.serving_mode, self.max_sessions,
                  self.health_port or "off")

    def serve_forever(self) -> None:
        try:
            while not self._shutdown.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        """Drain: drop the liveliness token first, finish the in-flight inference, undeclare, close."""
        if self._alive_token is not None:
            self._alive_token.undeclare()
            self._alive_token = None
        self._shutdown.set()
        self._work.set()
        if self._worker is not None:
            self._worker.join(10.0)
            self._worker = None
        for decl in self._decls:
            with contextlib.suppress(Exception):
                decl.undeclare()
        self._decls = []
        with self._registry_lock:
            for s in list(self.sessions.values()):
                self._close_session(s, "server shutdown")
        if self._zenoh is not None:
            self._zenoh.close()
            self._zenoh = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._audit_file is not None:
            self._audit_file.close()
            self._audit_file = None

    # --------------------------------------------------------------------------------------------- callbacks
    def _on_obs(self, sample: Any) -> None:
        try:
            if sample.attachment is None:
                self._count("malformed_total")
                return
            try:
                header = MsgHeader.unpack(sample.attachment.to_bytes())
            except ValueError:
                self._count("malformed_total")
                return
            if header.schema_version != SCHEMA_VERSION or header.msg_type != MSG_TYPE_OBS:
                self._count("malformed_total")
                return
            client = client_uuid_from_key(str(sample.key_expr))
            session = self.sessions.get(client)
            if session is None:
                self._count("dropped_unknown_client_total")
                if client not in self._warned_unknown and len(self._warned_unknown) < MAX_UNKNOWN_WARNINGS:
                    self._warned_unknown.add(client)
                    _log.warning("observation from unknown client %r dropped (open a session first)", client)
                return
            session.deposit(header, sample.payload.to_bytes())
            self._work.set()
        except Exception:
            _log.exception("observation callback failed")

    def _on_liveliness(self, sample: Any) -> None:
        import zenoh

        try:
            client = client_uuid_from_key(str(sample.key_expr))
            session = self.sessions.get(client)
            if session is None:
                return
            if sample.kind == zenoh.SampleKind.DELETE:
                session.alive, session.token_dropped_mono = False, time.monotonic()
            else:
                session.alive, session.token_dropped_mono = True, None
        except Exception:
            _log.exception("liveliness callback failed")

    @staticmethod
    def _query_payload(query: Any) -> bytes:
        return query.payload.to_bytes() if query.payload is not None else b""

    def _on_status_query(self, query: Any) -> None:
        try:
            query.reply(query.key_expr, codec.encode_status(self.status_snapshot()))
        except Exception:
            _log.exception("status query failed")

    def _on_session_query(self, query: Any) -> None:
        try:
            payload = self._query_payload(query)
            try:
                op = codec.peek_op(payload)
                if op == "close":
                    msg = codec.decode_session_close(payload)
                    self._handle_session_close(msg.client_uuid, msg.session_id)
                    query.reply(query.key_expr, codec.encode_reset_ack(ResetAckMsg(ok=True)))
                    return
                ack = self.handle_session_open(codec.decode_session_open(payload))
            except ValueError as exc:
                self._count("malformed_total")
                ack = SessionAckMsg(accepted=False, error=f"malformed session request: {exc}")
            except Exception as exc:
                _log.exception("session open failed")
                ack = SessionAckMsg(accepted=False, error=f"server error: {exc}")
            query.reply(query.key_expr, codec.encode_session_ack(ack))
        except Exception:
            _log.exception("session query failed")

    def _on_reset_query(self, query: Any) -> None:
        try:
            try:
                msg = codec.decode_reset(self._query_payload(query))
            except ValueError as exc:
                self._count("malformed_total")
                query.reply(query.key_expr, codec.encode_reset_ack(ResetAckMsg(ok=False, error=str(exc))))
                return
            client = msg.client_uuid or client_uuid_from_key(str(query.key_expr))
            session = self.sessions.get(client)
            if session is None:
                ack = ResetAckMsg(ok=False, error=f"unknown client {client!r}")
            else:
                with self._inference_lock:
                    session.reset_episode(msg.episode_id)
                    if self.serving_mode == SERVING_MODE_EXCLUSIVE:
                        self.policy.reset()
                ack = ResetAckMsg(ok=True)
            query.reply(query.key_expr, codec.encode_reset_ack(ack))
        except Exception:
            _log.exception("reset query failed")

    # -------------------------------------------------------------------------------------------- sessions
    def handle_session_open(self, msg: SessionOpenMsg) -> SessionAckMsg:
        with self._registry_lock:
            caps = self.status_snapshot()
            active = len(self.sessions) - (1 if msg.client_uuid in self.sessions else 0)
            result = validate_session_open(msg, caps, self.manifest, active)
            if not msg.client_uuid:
                result.error = result.error or "client_uuid is required"
            if not result.ok:
                _log.warning("session refused for %r: %s", msg.client_uuid, result.error)
                return SessionAckMsg(accepted=False, error=result.error, warnings=result.warnings,
                                     server_load=self.server_load, model_repo=caps.model_repo,
                                     model_revision=caps.model_revision)
            rtc = msg.rtc_enabled and not result.rtc_downgraded and self.rtc_horizon > 0
            session = self._new_session(msg.client_uuid, msg.task or self.manifest.default_task, rtc)
            if self._zenoh is not None:
                import zenoh

                session.publisher = self._zenoh.declare_publisher(
                    action_key(self.prefix, msg.client_uuid), reliability=zenoh.Reliability.RELIABLE,
                    congestion_control=zenoh.CongestionControl.DROP, express=True,
                    priority=zenoh.Priority.INTERACTIVE_HIGH)
            old = self.sessions.get(msg.client_uuid)
            self.sessions[msg.client_uuid] = session
            if old is not None:
                self._count("sessions_closed_total")
                old.close()
            if self.serving_mode == SERVING_MODE_EXCLUSIVE:
                with self._inference_lock:
                    self.policy.reset()
            self._count("sessions_opened_total")
            _log.info("session %s opened for %r (task %r)", session.session_id, msg.client_uuid, session.task)
            return SessionAckMsg(
                accepted=True, warnings=result.warnings, session_id=session.session_id,
                model_repo=caps.model_repo, model_revision=caps.model_revision, policy_type=caps.policy_type,
                action_names=caps.action_names, expected_cameras=caps.expected_cameras, state_dim=caps.state_dim,
                chunk_size=caps.chunk_size, trained_fps=caps.trained_fps, supports_rtc=rtc,
                rtc_execution_horizon=self.rtc_horizon if rtc else 0, serving_mode=self.serving_mode,
                warmed_up=self.warmed_up, server_load=self.server_load)

    def _handle_session_close(self, client_uuid: str, session_id: str = "") -> None:
        with self._registry_lock:
            session = self.sessions.get(client_uuid)
            if session is not None and (not session_id or session.session_id == session_id):
                self._close_session(session, "closed by client")

    def _close_session(self, session: Session, reason: str) -> None:
        with self._registry_lock:
            if self.sessions.get(session.client_uuid) is session:  # identity check: never a newer session
                del self.sessions[session.client_uuid]
                self._count("sessions_closed_total")
                _log.info("session %s of %r closed: %s", session.session_id, session.client_uuid, reason)
        session.close()

    # ----------------------------------------------------------------------------------------------- worker
    def _worker_loop(self) -> None:
        last_gc = time.monotonic()
        while not self._shutdown.is_set():
            with self._registry_lock:
                ready = [s for s in self.sessions.values() if s.has_pending()]
            if not ready:
                self._work.wait(WORKER_IDLE_WAIT_S)
                self._work.clear()
            for session in self.scheduler.select(ready):
                self.serve_one(session)
            now = time.monotonic()
            if now - last_gc > GC_PERIOD_S:
                last_gc = now
                self._gc_sessions(now)

    def serve_one(self, session: Session) -> ActionChunkMsg | None:
        item = session.take()
        if item is None:
            return None
        t0 = time.monotonic()
        queue_wait_ms = (t0 - item.recv_mono) * 1e3
        outcome, reply = "ok", None
        try:
            try:
                obs = codec.decode_observation(item.payload)
            except ValueError:
                self._count("malformed_total")
                raise
            self._capture("req", item.payload)
            with self._inference_lock:
                if obs.episode_start or item.header.episode_id != session.episode_id:
                    session.reset_episode(item.header.episode_id)
                    if self.serving_mode == SERVING_MODE_EXCLUSIVE:
                        self.policy.reset()
                reply = self.run_inference_request(session, item.header, obs)
            reply.queue_wait_ms = queue_wait_ms
            payload = codec.encode_action_chunk(reply)
            self._capture("rep", payload)
            header = MsgHeader(SCHEMA_VERSION, MSG_TYPE_CHUNK, item.header.seq_id, item.header.episode_id,
                               item.header.client_mono_ns, item.header.session_epoch)
            self._count("requests_total")
            self._count("superseded_total", reply.superseded_seqs)
            publisher = session.publisher
            if publisher is not None:
                publisher.put(payload, attachment=header.pack())
        except Exception as exc:
            outcome = f"error: {exc}"
            session.stats.errors += 1
            self._count("errors_total")
            _log.warning("request %d of %r failed: %s", item.header.seq_id, session.client_uuid, exc)
        finally:
            self._audit(session, item.header, queue_wait_ms, reply, outcome)
        return reply

    def _audit(self, session: Session, header: MsgHeader, queue_wait_ms: float, reply: ActionChunkMsg | None,
               outcome: str) -> None:
        record = {"session_id": session.session_id, "client_uuid": session.client_uuid, "seq_id": header.seq_id,
                  "episode_id": header.episode_id, "queue_wait_ms": round(queue_wait_ms, 3),
                  "inference_ms": round(reply.inference_ms, 3) if reply else None,
                  "superseded": session.stats.superseded, "outcome": outcome}
        line = json.dumps(record)
        audit_log.info(line)
        if self._audit_file is not None:
            self._audit_file.write(line + "\n")
            self._audit_file.flush()

    def _capture(self, kind: str, data: bytes) -> None:
        d = self.manifest.debug.capture_dir
        if not d:
            return
        Path(d).mkdir(parents=True, exist_ok=True)
        index = self._capture_count % max(1, self.manifest.debug.capture_max)
        (Path(d) / f"{kind}_{index:05d}.bin").write_bytes(data)
        if kind == "rep":
            self._capture_count += 1

    def _client_token_alive(self, client: str) -> bool:
        if self._zenoh is None:
            return False
        try:
            replies = self._zenoh.liveliness().get(client_alive_key(self.prefix, client), timeout=0.5)
            return any(r.ok is not None for r in replies)
        except Exception:
            return False

    def _gc_sessions(self, now: float) -> None:
        with self._registry_lock:
            sessions = list(self.sessions.values())
        for s in sessions:
            if s.token_dropped_mono is not None and now - s.token_dropped_mono > LIVELINESS_GC_GRACE_S:
                if self._client_token_alive(s.client_uuid):
                    s.alive, s.token_dropped_mono = True, None  # a late DELETE from an old incarnation
                else:
                    self._close_session(s, "liveliness token dropped")
            elif now - s.last_seen_mono > self.manifest.session_idle_timeout_s:
                self._close_session(s, "idle timeout")

    # ------------------------------------------------------------------------------------------ health/metrics
    def metrics_text(self) -> str:
        with self._metrics_lock:
            values: dict[str, float] = dict(self.metrics)
        values["active_sessions"] = len(self.sessions)
        values["server_load"] = self.server_load
        return "".join(f"lerobot_policy_server_{k} {v}\n" for k, v in sorted(values.items()))

    def healthy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _start_health(self) -> None:
        port = self.manifest.health_port
        if port == 0:
            return
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    ok = server.healthy()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"worker dead\n", "text/plain")
                elif self.path == "/metrics":
                    self._send(200, server.metrics_text().encode(), "text/plain; version=0.0.4")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer((self.manifest.health_host, max(port, 0)), Handler)
        self.health_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="HealthHTTP", daemon=True).start()


def run_server(manifest: PolicyServerManifest, ready: Callable[[PolicyServer], None] | None = None) -> PolicyServer:
    """Load, start and return a server (the CLI then waits in ``serve_forever``)."""
    server = PolicyServer(manifest)
    server.load_policy()
    server.start()
    if ready is not None:
        ready(server)
    return server
