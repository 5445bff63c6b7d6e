"""Callback dispatch of the node API (``spin.Executor``, ``spin.InlineGate``, ``node.Subscription``): a node's
callbacks never overlap, also when a proven-fast subscription runs inline on the Zenoh thread; per-subscription
order is kept across inline and queued runs; slow or blocking callbacks go back to the executor; timers share
the node's lock; malformed samples are counted; same-process deliveries are always queued."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from helpers.waiting import wait_for
from lerobot_ros.runtime import QOS_RELIABLE_KEEP_ALL, Node, make, msgs, wire
from lerobot_ros.runtime.spin import InlineGate, note_blocking_call
from lerobot_ros.runtime.transport import MessageInfo

STRING = "std_msgs/msg/String"
TRIGGER = "std_srvs/srv/Trigger"




def wait_matched(node: Node, topic: str, pubs: int = 1, subs: int = 1) -> None:
    graph = node.backend.graph
    assert graph.wait_until(lambda g: g.count_publishers(topic) >= pubs and g.count_subscribers(topic) >= subs, 5)
    time.sleep(0.1)  # declarations propagate to the data plane


class Overlap:
    """Counts callbacks running at once (the node API promises at most one per node) and where they ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.threads: set[str] = set()

    def run(self, hold_s: float = 0.0001) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.add(threading.current_thread().name)
        time.sleep(hold_s)  # releases the GIL: a second callback let in now would be seen
        with self._lock:
            self.active -= 1


def publish_all(pub, texts: list[str], pause_s: float = 0.0) -> None:
    for text in texts:
        pub.publish(make(STRING, data=text))
        if pause_s:
            time.sleep(pause_s)


# -- the gate's policy ------------------------------------------------------------------------------------------
def runs_until_allowed(gate: InlineGate, seconds: float = 0.0001, limit: int = 10_000) -> int:
    """Record fast queued runs until the gate promotes; the number of runs it took."""
    for n in range(1, limit + 1):
        gate.record(seconds, inline=False)
        if gate.allows():
            return n
    raise AssertionError(f"not promoted after {limit} runs")


def test_gate_promotes_after_fast_runs_and_backs_off_after_slow_ones() -> None:
    gate = InlineGate()
    assert runs_until_allowed(gate) == InlineGate.PROMOTE_AFTER
    gate.record(0.004, inline=True)  # one outlier (a preempted run): the average stays fast, still inline
    assert gate.allows() and gate.demotions == 0
    gate.record(0.5, inline=True)  # one run past SLOW_FACTOR * fast_s: demoted, and twice the proof next time
    assert not gate.allows() and gate.demotions == 1 and gate.promote_after == 2 * InlineGate.PROMOTE_AFTER
    # the average has to come back under fast_s before the streak counts again
    assert runs_until_allowed(gate) > 2 * InlineGate.PROMOTE_AFTER + 10
    assert gate.inline_runs == 2
    for _ in range(3):  # a callback slower than fast_s on average: demoted without any very slow run
        gate.record(0.003, inline=True)
    assert not gate.allows() and gate.demotions == 2 and gate.promote_after == 4 * InlineGate.PROMOTE_AFTER
    gate.record(0.5, inline=False)  # slow while already queued: no further back-off
    assert gate.demotions == 2 and gate.promote_after == 4 * InlineGate.PROMOTE_AFTER
    for _ in range(20):
        runs_until_allowed(gate)
        gate.record(1.0, inline=True)
    assert gate.promote_after == InlineGate.MAX_PROMOTE_AFTER
    runs_until_allowed(gate)
    for _ in range(2 * InlineGate.MAX_PROMOTE_AFTER):  # fast inline runs halve the proof needed, down to the start
        gate.record(0.0001, inline=True)
    assert gate.promote_after == InlineGate.PROMOTE_AFTER and gate.allows()
    assert not InlineGate(enabled=False).allows()


def test_runs_are_timed_when_they_raise_and_blocking_calls_pin_the_callback_to_the_executor(make_context) -> None:
    node = Node("gated", context=make_context(), enable_rosout=False)
    mode = {"raise": True, "block": False}

    def callback(_msg) -> None:
        if mode["raise"]:
            raise RuntimeError("boom")
        if mode["block"]:
            note_blocking_call("service call /x")

    sub = node.create_subscription(STRING, "/gated", callback)
    payload, info = msgs.serialize(make(STRING, data="x")), MessageInfo(0, 1, bytes(16), 0)
    sub._run(payload, info, False)
    assert sub.dispatch.queued_runs == 1 and node._executor.errors == 1  # a raising callback is reported and timed
    mode["raise"] = False
    for _ in range(InlineGate.PROMOTE_AFTER):
        sub._run(payload, info, False)
    assert sub.dispatch.allows()
    note_blocking_call("outside any callback")  # no callback on this thread: nothing to pin
    assert sub.dispatch.allows()
    mode["block"] = True
    assert node._executor.lock.acquire(blocking=False)
    sub._run(payload, info, True)  # inline: runs under the lock the transport thread took, and releases it
    assert sub.dispatch.blocking and not sub.dispatch.allows()
    assert sub.dispatch.inline_runs == 1 and node._executor.owner is None
    assert node._executor.lock.acquire(blocking=False)  # released
    node._executor.lock.release()
    node.destroy()


# -- a real node through the router ---------------------------------------------------------------------------
def test_callbacks_of_one_node_never_overlap_with_inline_dispatch(make_context) -> None:
    node = Node("serial", context=make_context(), enable_rosout=False)
    overlap = Overlap()
    counts: dict[str, int] = defaultdict(int)

    def callback(topic: str):
        def run(_msg) -> None:
            overlap.run()
            counts[topic] += 1
        return run

    subs = [node.create_subscription(STRING, topic, callback(topic), QOS_RELIABLE_KEEP_ALL) for topic in "abc"]
    for sub in subs:
        sub.dispatch.fast_s = 0.05  # promotion must not depend on a loaded machine's timing
    timer_runs = []
    node.create_timer(0.005, lambda: (overlap.run(), timer_runs.append(1)))
    local_pub = node.create_publisher(STRING, "c", QOS_RELIABLE_KEEP_ALL)  # same process: queued
    remotes = [Node(f"remote{i}", context=make_context(), enable_rosout=False) for i in range(2)]
    pubs = [remotes[0].create_publisher(STRING, "a", QOS_RELIABLE_KEEP_ALL),
            remotes[1].create_publisher(STRING, "b", QOS_RELIABLE_KEEP_ALL),
            remotes[1].create_publisher(STRING, "c", QOS_RELIABLE_KEEP_ALL)]
    for topic in ("/a", "/b"):
        wait_matched(node, topic)
    wait_matched(node, "/c", pubs=2)
    n = 100
    threads = [threading.Thread(target=publish_all, args=(pub, [str(i) for i in range(n)], 0.003))
               for pub in (*pubs, local_pub)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert wait_for(lambda: counts["a"] == n and counts["b"] == n and counts["c"] == 2 * n, 30), dict(counts)
    assert overlap.max_active == 1
    assert sum(sub.dispatch.inline_runs for sub in subs) > 0  # inline dispatch really happened ...
    assert sum(sub.dispatch.queued_runs for sub in subs) >= 3 * InlineGate.PROMOTE_AFTER  # ... and queued
    assert timer_runs and any(name.startswith("executor:") for name in overlap.threads)
    assert any(not name.startswith("executor:") for name in overlap.threads)
    for remote in remotes:
        remote.destroy()
    node.destroy()


def test_per_subscription_order_is_kept_across_inline_and_queued_runs(make_context) -> None:
    node = Node("ordered", context=make_context(), enable_rosout=False)
    got: list[tuple[str, int]] = []

    def callback(msg) -> None:
        source, index = msg.data.split(":")
        got.append((source, int(index)))
        if int(index) % 40 == 39:
            time.sleep(0.025)  # past SLOW_FACTOR * FAST_S: demoted, the next samples queue behind it

    sub = node.create_subscription(STRING, "seq", callback, QOS_RELIABLE_KEEP_ALL)
    # a timer holding the node's lock makes samples that arrive meanwhile queue
    node.create_timer(0.003, lambda: time.sleep(0.0005))
    remotes = [Node(f"src{i}", context=make_context(), enable_rosout=False) for i in range(2)]
    pubs = [remote.create_publisher(STRING, "seq", QOS_RELIABLE_KEEP_ALL) for remote in remotes]
    wait_matched(node, "/seq", pubs=2)
    n = 300
    threads = [threading.Thread(target=publish_all, args=(pub, [f"p{i}:{k}" for k in range(n)], 0.0003))
               for i, pub in enumerate(pubs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert wait_for(lambda: len(got) == 2 * n, 30), len(got)
    for source in ("p0", "p1"):
        assert [k for s, k in got if s == source] == list(range(n))
    assert sub.dispatch.inline_runs > 0 and sub.dispatch.queued_runs > InlineGate.PROMOTE_AFTER
    assert sub.dispatch.demotions >= 1 and sub.lost == 0 and sub.queue_dropped == 0
    for remote in remotes:
        remote.destroy()
    node.destroy()


def test_a_slow_callback_falls_back_to_the_executor(make_context) -> None:
    node = Node("adaptive", context=make_context(), enable_rosout=False)
    ran_on: dict[str, str] = {}

    def callback(msg) -> None:
        ran_on[msg.data] = threading.current_thread().name
        if msg.data == "slow":
            time.sleep(0.15)

    sub = node.create_subscription(STRING, "work", callback, QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 0.005  # one "slow" run (150 ms >= SLOW_FACTOR * fast_s) demotes; the others stay fast
    slow_always = node.create_subscription(STRING, "heavy", lambda _m: time.sleep(0.003), QOS_RELIABLE_KEEP_ALL)
    remote = Node("feeder", context=make_context(), enable_rosout=False)
    pub = remote.create_publisher(STRING, "work", QOS_RELIABLE_KEEP_ALL)
    heavy = remote.create_publisher(STRING, "heavy", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/work")
    wait_matched(node, "/heavy")
    publish_all(pub, [f"f{i}" for i in range(20)], 0.002)
    assert wait_for(lambda: len(ran_on) == 20)
    assert sub.dispatch.allows() and not ran_on["f19"].startswith("executor:")  # promoted: inline
    publish_all(pub, ["slow"])
    assert wait_for(lambda: "slow" in ran_on and sub.dispatch.demotions == 1)
    publish_all(pub, ["after"])
    assert wait_for(lambda: "after" in ran_on)
    assert ran_on["after"].startswith("executor:")  # demoted: queued until proven fast again
    assert sub.dispatch.promote_after == 2 * InlineGate.PROMOTE_AFTER
    publish_all(heavy, [str(i) for i in range(20)], 0.001)
    gate = slow_always.dispatch  # a run is recorded once its callback returned
    assert wait_for(lambda: gate.inline_runs + gate.queued_runs == 20)
    assert gate.inline_runs == 0 and slow_always.received == 20
    remote.destroy()
    node.destroy()


def test_a_callback_that_calls_a_service_is_never_inlined(make_context) -> None:
    server = Node("server", context=make_context(), enable_rosout=False)
    server.create_service(TRIGGER, "ping", lambda _req: make(f"{TRIGGER}_Response", success=True, message="pong"))
    node = Node("caller", context=make_context(), enable_rosout=False)
    client = node.create_client(TRIGGER, "/ping")
    assert client.wait_for_service(5)
    answers: list[str] = []
    sub = node.create_subscription(STRING, "go", lambda _m: answers.append(client.call(timeout_s=5).message),
                                   QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 10.0  # even a "fast" service call must not make it inline
    remote = Node("trigger", context=make_context(), enable_rosout=False)
    pub = remote.create_publisher(STRING, "go", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/go")
    publish_all(pub, [str(i) for i in range(15)], 0.005)
    assert wait_for(lambda: len(answers) == 15)
    assert answers == ["pong"] * 15
    assert sub.dispatch.blocking and sub.dispatch.inline_runs == 0
    for n in (remote, node, server):
        n.destroy()


def test_timers_stay_serialized_with_inline_subscriptions(make_context) -> None:
    node = Node("ticking", context=make_context(), enable_rosout=False)
    overlap = Overlap()
    ticks: list[int] = []
    node.create_timer(0.004, lambda: (overlap.run(0.002), ticks.append(1)))  # holds the lock half the time
    got: list[str] = []
    sub = node.create_subscription(STRING, "t", lambda m: (overlap.run(), got.append(m.data)), QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 0.05
    remote = Node("ticker_feed", context=make_context(), enable_rosout=False)
    pub = remote.create_publisher(STRING, "t", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/t")
    publish_all(pub, [str(i) for i in range(200)], 0.002)
    assert wait_for(lambda: len(got) == 200)
    assert got == [str(i) for i in range(200)]
    assert overlap.max_active == 1 and len(ticks) > 5
    assert sub.dispatch.inline_runs > 0 and sub.dispatch.queued_runs > InlineGate.PROMOTE_AFTER
    remote.destroy()
    node.destroy()


def test_malformed_samples_and_raising_callbacks_with_inline_dispatch(make_context) -> None:
    node = Node("sturdy", context=make_context(), enable_rosout=False)
    got: list[str] = []

    def callback(msg) -> None:
        if msg.data == "boom":
            raise RuntimeError("boom")
        got.append(msg.data)

    sub = node.create_subscription(STRING, "mixed", callback, QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 0.05
    raw = make_context()
    key = wire.data_key(0, "/mixed", STRING, msgs.type_hash(STRING))
    zpub = raw.session.declare_publisher(key)
    assert raw.graph.wait_until(lambda g: g.count_subscribers("/mixed") == 1, 5)
    time.sleep(0.2)
    gid = bytes(16)
    seq = iter(range(1, 1000))

    def put(payload: bytes, attachment: bytes | None = b"auto") -> None:
        if attachment == b"auto":
            attachment = wire.encode_attachment(next(seq), time.time_ns(), gid)
        zpub.put(payload, attachment=attachment) if attachment is not None else zpub.put(payload)
        time.sleep(0.002)

    for i in range(20):  # proven fast: inline from here on
        put(msgs.serialize(make(STRING, data=f"ok{i}")))
    assert wait_for(lambda: len(got) == 20) and sub.dispatch.allows()
    inline_before = sub.dispatch.inline_runs
    good = msgs.serialize(make(STRING, data="late"))
    put(b"garbage!")  # not CDR
    put(good[:-3])  # truncated
    put(good, attachment=None)  # no attachment
    put(good, attachment=b"\x01\x02")  # malformed attachment
    put(msgs.serialize(make(STRING, data="boom")))  # raises in the callback
    put(good)
    assert wait_for(lambda: got[-1:] == ["late"])
    assert sub.malformed == 4 and node._executor.errors == 1
    assert sub.dispatch.inline_runs > inline_before  # the bad samples ran through the inline path too
    node.destroy()


def test_a_callback_may_republish_on_the_topic_it_receives(make_context) -> None:
    node = Node("echo", context=make_context(), enable_rosout=False)
    pub = node.create_publisher(STRING, "loop", QOS_RELIABLE_KEEP_ALL)
    seen: list[tuple[str, str]] = []

    def callback(msg) -> None:
        seen.append((msg.data, threading.current_thread().name))
        if msg.data.startswith("ping"):
            pub.publish(make(STRING, data="pong" + msg.data[4:]))  # the same publisher, from its own delivery

    sub = node.create_subscription(STRING, "loop", callback, QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 0.05
    wait_matched(node, "/loop")
    publish_all(pub, [f"ping{i}" for i in range(30)], 0.002)
    assert wait_for(lambda: len(seen) == 60)
    assert sorted(text for text, _ in seen) == sorted([f"ping{i}" for i in range(30)] + [f"pong{i}" for i in range(30)])
    # deliveries come on the subscription's receive thread, never inside the publish call: inline is safe
    assert sub.dispatch.inline_runs > 0 and {name.split(":")[0] for _, name in seen} <= {"rx", "executor"}
    node.destroy()


def test_destroying_the_node_from_an_inline_callback(make_context) -> None:
    node = Node("short_lived", context=make_context(), enable_rosout=False)
    done = threading.Event()
    ran_on: list[str] = []

    def callback(msg) -> None:
        if msg.data == "stop":
            ran_on.append(threading.current_thread().name)
            node.destroy()
            done.set()

    sub = node.create_subscription(STRING, "ctl", callback, QOS_RELIABLE_KEEP_ALL)
    sub.dispatch.fast_s = 0.05
    remote = Node("controller", context=make_context(), enable_rosout=False)
    pub = remote.create_publisher(STRING, "ctl", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/ctl")
    publish_all(pub, ["x"] * 20, 0.002)
    assert wait_for(lambda: sub.received == 20) and sub.dispatch.allows()
    publish_all(pub, ["stop"])
    assert done.wait(10) and node.destroyed
    assert not ran_on[0].startswith("executor:")
    publish_all(pub, ["x"] * 3, 0.002)
    time.sleep(0.2)
    assert sub.received == 21  # nothing runs after destroy
    remote.destroy()


def test_inline_dispatch_can_be_switched_off(make_context, monkeypatch) -> None:
    monkeypatch.setenv("LEROBOT_ROS_INLINE_DISPATCH", "0")
    node = Node("queued_only", context=make_context(), enable_rosout=False)
    got: list[str] = []
    sub = node.create_subscription(STRING, "q", lambda m: got.append(threading.current_thread().name),
                                   QOS_RELIABLE_KEEP_ALL)
    remote = Node("q_feed", context=make_context(), enable_rosout=False)
    pub = remote.create_publisher(STRING, "q", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/q")
    publish_all(pub, [str(i) for i in range(30)], 0.002)
    assert wait_for(lambda: len(got) == 30)
    assert not sub.dispatch.enabled and sub.dispatch.inline_runs == 0
    assert all(name.startswith("executor:") for name in got)
    remote.destroy()
    node.destroy()
