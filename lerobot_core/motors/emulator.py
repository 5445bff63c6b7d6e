"""Servo-bus emulator for tests and benchmarks: Feetech or Dynamixel 2.0 motors behind a pseudo-terminal.

The real drivers open ``emulator.port`` with pyserial and run unchanged. Each motor has a control-table
memory, the vendor's homing-offset arithmetic and first-order position dynamics when torque is on;
responses can be dropped (``loss_rate``, :meth:`drop_next`), corrupted (:meth:`corrupt_next`) or silenced.
Not for production use: it exists so CI exercises the full driver stack without hardware.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass, field

from lerobot_core.motors import protocol as p
from lerobot_core.motors import tables

_TERMIOS_SPEEDS = {getattr(termios, f"B{b}"): b for b in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000,
                   1000000, 2000000, 3000000, 4000000) if hasattr(termios, f"B{b}")}  # fmt: skip


@dataclass
class EmulatedMotor:
    motor_id: int
    model: str
    memory: bytearray = field(default_factory=lambda: bytearray(256))
    raw: float = 2047.0  # shaft position in encoder ticks before the homing offset
    velocity: float = 0.0  # ticks/s


@dataclass
class EmulatorStats:
    requests: int = 0
    responses: int = 0
    dropped: int = 0
    corrupted: int = 0
    bad_packets: int = 0


class ServoBusEmulator:
    """Motors ``{id: model}`` speaking ``protocol`` ("feetech" or "dynamixel") on a pty."""

    def __init__(
        self,
        protocol: str,
        motors: dict[int, str],
        *,
        loss_rate: float = 0.0,
        seed: int = 0,
        time_constant_s: float = 0.02,
        max_speed_ticks_s: float = 5000.0,
    ) -> None:
        if protocol not in ("feetech", "dynamixel"):
            raise ValueError(f"protocol must be 'feetech' or 'dynamixel', got {protocol!r}")
        self.protocol_name = protocol
        self.feetech = protocol == "feetech"
        self.table = tables.FEETECH_STS_TABLE if self.feetech else tables.DYNAMIXEL_X_TABLE
        # SCS servos store multi-byte registers big-endian, STS/SMS and Dynamixel little-endian.
        self.big_endian = self.feetech and bool(motors) and all(m in tables.FEETECH_BIG_ENDIAN for m in motors.values())
        self.codec = p.FeetechProtocol(big_endian=self.big_endian) if self.feetech else p.DynamixelProtocol()
        self.loss_rate = loss_rate
        self.time_constant_s = time_constant_s
        self.max_speed = max_speed_ticks_s
        self.stats = EmulatorStats()
        self._rng = random.Random(seed)
        self._drop: dict[int, int] = {}
        self._corrupt: dict[int, int] = {}
        self._silent: set[int] = set()
        self._lock = threading.RLock()
        self.motors = {mid: self._new_motor(mid, model) for mid, model in motors.items()}
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._last_update = time.monotonic()
        self._thread = threading.Thread(target=self._serve, name=f"servo-emulator-{protocol}", daemon=True)
        self._thread.start()

    # --- setup ---------------------------------------------------------------------------------------------
    def _new_motor(self, motor_id: int, model: str) -> EmulatedMotor:
        models = tables.FEETECH_MODELS if self.feetech else tables.DYNAMIXEL_MODELS
        if model not in models:
            raise ValueError(f"unknown {self.protocol_name} model {model!r}; known: {sorted(models)}")
        m = EmulatedMotor(motor_id, model, raw=float((tables.resolution(model) - 1) // 2))
        self._poke(m, "Model_Number", models[model])
        self._poke(m, "ID", motor_id)
        self._poke(m, "Max_Position_Limit", 4095)
        self._poke(m, "Min_Position_Limit", 0)
        self._poke(m, "Present_Temperature", 31)
        if self.feetech:
            self._poke(m, "Firmware_Major_Version", 3)
            self._poke(m, "Firmware_Minor_Version", 10)
            self._poke(m, "Present_Voltage", 121)
            self._poke(m, "Max_Torque_Limit", 1000)
            self._poke(m, "Lock", 1)
        else:
            self._poke(m, "Firmware_Version", 52)
            self._poke(m, "Operating_Mode", tables.DynamixelOperatingMode.POSITION)
            self._poke(m, "Present_Input_Voltage", 50)
            self._poke(m, "Baud_Rate", 3)
        self._sync_goal_to_present(m)
        return m

    def _addr(self, name: str) -> tuple[int, int]:
        return self.table[name]

    def _poke(self, m: EmulatedMotor, name: str, value: int) -> None:
        addr, size = self._addr(name)
        m.memory[addr : addr + size] = p.encode_uint(int(value), size, self.big_endian)

    def _peek(self, m: EmulatedMotor, name: str) -> int:
        addr, size = self._addr(name)
        value = p.decode_uint(bytes(m.memory[addr : addr + size]), self.big_endian)
        if self.feetech and name in tables.FEETECH_SIGN_BITS:
            bit = tables.FEETECH_SIGN_BITS[name]
            return -(value & ((1 << bit) - 1)) if value >> bit & 1 else value
        if not self.feetech and name in tables.DYNAMIXEL_SIGNED and value >> (8 * size - 1):
            value -= 1 << (8 * size)
        return value

    # --- the motor model -------------------------------------------------------------------------------------
    def _present(self, m: EmulatedMotor) -> int:
        homing = self._peek(m, "Homing_Offset")
        if self.feetech:  # Present = Actual - Homing, wrapped to one turn
            return round(m.raw - homing) % tables.resolution(m.model)
        return round(m.raw + homing)  # Dynamixel: Present = Actual + Homing

    def _goal_raw(self, m: EmulatedMotor) -> float:
        goal = self._peek(m, "Goal_Position")
        homing = self._peek(m, "Homing_Offset")
        if self.feetech:
            res = tables.resolution(m.model)
            target = goal + homing
            # Shortest way round from the present (motors work within one turn).
            return m.raw + ((target - m.raw + res / 2) % res - res / 2)
        return goal - homing

    def _sync_goal_to_present(self, m: EmulatedMotor) -> None:
        present = self._present(m)
        addr, size = self._addr("Goal_Position")
        m.memory[addr : addr + size] = p.encode_uint(present, size, self.big_endian)

    def _update(self) -> None:
        now = time.monotonic()
        dt, self._last_update = now - self._last_update, now
        for m in self.motors.values():
            if self._peek(m, "Torque_Enable"):
                error = self._goal_raw(m) - m.raw
                step = error * (1 - math.exp(-dt / self.time_constant_s))
                step = max(-self.max_speed * dt, min(self.max_speed * dt, step))
                m.raw += step
                m.velocity = step / dt if dt > 0 else 0.0
            else:
                m.velocity = 0.0
                self._sync_goal_to_present(m)
            self._poke(m, "Present_Position", self._present(m))
            speed = round(m.velocity)
            if self.feetech:
                speed = (abs(speed) & 0x7FFF) | (0x8000 if speed < 0 else 0)
            self._poke(m, "Present_Velocity", speed)
            self._poke(m, "Moving", int(abs(m.velocity) > 10))

    # --- test hooks ------------------------------------------------------------------------------------------
    def set_position(self, motor_id: int, present_ticks: float) -> None:
        """Move a motor by hand so that it reads ``present_ticks`` (with its current homing offset)."""
        with self._lock:
            m = self.motors[motor_id]
            homing = self._peek(m, "Homing_Offset")
            m.raw = present_ticks + homing if self.feetech else present_ticks - homing
            self._update()

    def present_position(self, motor_id: int) -> int:
        with self._lock:
            self._update()
            return self._present(self.motors[motor_id])

    def register(self, motor_id: int, name: str) -> int:
        """A register's value as the motor would report it (signed decoding applied)."""
        with self._lock:
            self._update()
            return self._peek(self.motors[motor_id], name)

    def drop_next(self, motor_id: int, count: int = 1) -> None:
        """Do not answer the next ``count`` requests addressed to ``motor_id``."""
        with self._lock:
            self._drop[motor_id] = self._drop.get(motor_id, 0) + count

    def corrupt_next(self, motor_id: int, count: int = 1) -> None:
        """Answer the next ``count`` requests to ``motor_id`` with a bad checksum."""
        with self._lock:
            self._corrupt[motor_id] = self._corrupt.get(motor_id, 0) + count

    def plug(self, motor_id: int, model: str, baudrate: int | None = None) -> None:
        """Connect a motor with factory settings except its id (and ``baudrate`` when given)."""
        with self._lock:
            m = self._new_motor(motor_id, model)
            if baudrate is not None:
                table = tables.FEETECH_BAUDRATES if self.feetech else tables.DYNAMIXEL_BAUDRATES
                self._poke(m, "Baud_Rate", table[baudrate])
            self.motors[motor_id] = m

    def unplug(self, motor_id: int) -> EmulatedMotor:
        """Disconnect a motor from the bus and return it (with its memory)."""
        with self._lock:
            return self.motors.pop(motor_id)

    def silence(self, motor_id: int, silent: bool = True) -> None:
        """Unplug (``True``) or re-plug (``False``) a motor."""
        with self._lock:
            (self._silent.add if silent else self._silent.discard)(motor_id)

    # --- baud rates ------------------------------------------------------------------------------------------
    def _host_baudrate(self) -> int | None:
        """The baud rate the driver set on the pty (None when not a standard termios rate: no check)."""
        try:
            return _TERMIOS_SPEEDS.get(termios.tcgetattr(self._slave)[5])
        except termios.error:
            return None

    def _motor_baudrate(self, m: EmulatedMotor) -> int | None:
        table = tables.FEETECH_BAUDRATES if self.feetech else tables.DYNAMIXEL_BAUDRATES
        code = self._peek(m, "Baud_Rate")
        return next((baud for baud, c in table.items() if c == code), None)

    # --- serving ---------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buf += chunk
            while buf:
                result = self.codec.parse(buf)
                if result.corrupt:
                    self.stats.bad_packets += 1
                del buf[: result.consumed]
                if result.packet is None:
                    if not result.corrupt:
                        break
                    continue
                with self._lock:
                    self.stats.requests += 1
                    self._update()
                    replies = self._handle(result.packet)
                out = b"".join(replies)
                if out:
                    try:
                        os.write(self._master, out)
                    except OSError:
                        return

    def _answer(self, motor_id: int, params: bytes = b"", error: int = 0) -> bytes:
        if motor_id in self._silent:
            return b""
        if self._drop.get(motor_id, 0) > 0:
            self._drop[motor_id] -= 1
            self.stats.dropped += 1
            return b""
        if self.loss_rate and self._rng.random() < self.loss_rate:
            self.stats.dropped += 1
            return b""
        packet = self.codec.status(motor_id, error, params)
        if self._corrupt.get(motor_id, 0) > 0:
            self._corrupt[motor_id] -= 1
            self.stats.corrupted += 1
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
        self.stats.responses += 1
        return packet

    def _split_address(self, params: bytes) -> tuple[int, int, bytes]:
        if self.feetech:
            return params[0], params[1], params[2:]
        return int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little"), params[4:]

    def _write_memory(self, m: EmulatedMotor, addr: int, data: bytes) -> None:
        m.memory[addr : addr + len(data)] = data
        if addr == self._addr("ID")[0] and data and data[0] != m.motor_id:  # the motor takes its new id
            self.motors.pop(m.motor_id)
            m.motor_id = data[0]
            self.motors[m.motor_id] = m
        torque_addr = self._addr("Torque_Enable")[0]
        if addr <= torque_addr < addr + len(data) and not m.memory[torque_addr]:
            self._sync_goal_to_present(m)

    def _handle(self, pkt: p.Packet) -> list[bytes]:
        host = self._host_baudrate()
        # A motor set to another baud rate than the host's hears only noise.
        motors = {mid: m for mid, m in self.motors.items() if host is None or self._motor_baudrate(m) == host}
        ids = list(motors) if pkt.motor_id == p.BROADCAST_ID else [pkt.motor_id]
        if pkt.instruction == p.PING:
            out = []
            for mid in ids:
                if mid in motors:
                    m = motors[mid]
                    params = b"" if self.feetech else (
                        p.encode_uint(self._peek(m, "Model_Number"), 2) + bytes([self._peek(m, "Firmware_Version")])
                    )  # fmt: skip
                    out.append(self._answer(mid, params))
            return out
        if pkt.instruction == p.READ and pkt.motor_id in motors:
            if self.feetech:
                addr, length = pkt.params[0], pkt.params[1]
            else:
                addr, length, _ = self._split_address(pkt.params)
            m = motors[pkt.motor_id]
            return [self._answer(m.motor_id, bytes(m.memory[addr : addr + length]))]
        if pkt.instruction == p.WRITE:
            if self.feetech:
                addr, data = pkt.params[0], pkt.params[1:]
            else:
                addr, data = int.from_bytes(pkt.params[0:2], "little"), pkt.params[2:]
            out = []
            for mid in ids:
                if mid in motors and mid not in self._silent:
                    self._write_memory(self.motors[mid], addr, data)
                    if pkt.motor_id != p.BROADCAST_ID:
                        out.append(self._answer(mid))
            return out
        if pkt.instruction == p.SYNC_WRITE:
            addr, length, rest = self._split_address(pkt.params)
            for i in range(0, len(rest) - length, length + 1):
                mid, data = rest[i], rest[i + 1 : i + 1 + length]
                if mid in motors and mid not in self._silent:
                    self._write_memory(self.motors[mid], addr, data)
            return []
        if pkt.instruction == p.SYNC_READ:
            addr, length, rest = self._split_address(pkt.params)
            return [
                self._answer(mid, bytes(motors[mid].memory[addr : addr + length]))
                for mid in rest
                if mid in motors
            ]
        return []

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> ServoBusEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
