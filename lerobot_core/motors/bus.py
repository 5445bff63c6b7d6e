"""Serial servo buses: Feetech STS/SCS (SO-100/SO-101) and Dynamixel Protocol 2.0 (Koch), over pyserial.

Mirrors upstream LeRobot's ``MotorsBus`` API (``read``/``write``/``sync_read``/``sync_write`` by register
name, ``enable_torque``/``disable_torque``, ``set_half_turn_homings``, ``record_ranges_of_motion``,
``write_calibration``) with our own packet code (see ARCHITECTURE.md for why).

Error policy for control loops: ``sync_read`` never raises for a lost, late or corrupt reply; the motor's
last known value is returned, the loss is counted in ``bus.stats`` and logged (rate-limited). Single
``read``/``write`` (set-up, calibration) retry ``num_retry`` times, then raise :class:`MotorBusError`.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from lerobot_core.motors import protocol as p
from lerobot_core.motors import tables
from lerobot_core.motors.calibration import MotorCalibration, MotorNormMode, ticks_to_value, value_to_ticks

logger = logging.getLogger(__name__)
NORMALIZED_REGISTERS = ("Present_Position", "Goal_Position")


class MotorBusError(ConnectionError):
    """A motor did not answer (after retries) or answered with an error."""


@dataclass
class Motor:
    id: int
    model: str
    norm_mode: MotorNormMode = MotorNormMode.RANGE_M100_100


@dataclass
class BusStats:
    """Counters of bus health (what a driver publishes as diagnostics)."""

    transactions: int = 0
    timeouts: int = 0  # expected replies that never came
    corrupt: int = 0  # replies with a bad checksum / CRC
    status_errors: int = 0  # replies carrying a motor error flag
    lost_by_motor: dict[str, int] = field(default_factory=dict)
    last_error: str = ""

    def as_dict(self) -> dict:
        return {
            "transactions": self.transactions,
            "timeouts": self.timeouts,
            "corrupt": self.corrupt,
            "status_errors": self.status_errors,
            "lost_by_motor": dict(self.lost_by_motor),
            "last_error": self.last_error,
        }


class MotorsBus:
    """Base class; use :class:`FeetechMotorsBus` or :class:`DynamixelMotorsBus`."""

    protocol_name = ""
    table: ClassVar[dict[str, tuple[int, int]]] = {}
    models: ClassVar[dict[str, int]] = {}
    baudrates: ClassVar[dict[int, int]] = {}
    # Reply deadline beyond the wire time. 10 ms suits USB adapters with a 1 ms latency timer; raise it for
    # FTDI adapters at their 16 ms default, or in tests on a loaded machine.
    default_timeout_s: ClassVar[float] = 0.01

    def __init__(
        self,
        port: str,
        motors: dict[str, Motor],
        calibration: dict[str, MotorCalibration] | None = None,
        baudrate: int = 1_000_000,
        timeout_s: float | None = None,
        num_retry: int = 2,
    ) -> None:
        self.port = port
        self.motors = dict(motors)
        self.calibration = dict(calibration or {})
        self.baudrate = baudrate
        self.timeout_s = self.default_timeout_s if timeout_s is None else timeout_s
        self.num_retry = num_retry
        self.stats = BusStats()
        self._serial = None
        self._fd: int | None = None
        self._lock = threading.RLock()
        self._last: dict[str, dict[str, float]] = {}
        self._id_to_name = {m.id: name for name, m in self.motors.items()}
        for name, motor in self.motors.items():
            if motor.model not in self.models:
                raise ValueError(f"motor {name!r}: unknown {self.protocol_name} model {motor.model!r}; "
                                 f"known: {sorted(self.models)}")  # fmt: skip
        if len(self._id_to_name) != len(self.motors):
            raise ValueError(f"motor ids must be unique, got {[m.id for m in self.motors.values()]}")
        self.codec = self._make_codec()

    def _make_codec(self):  # pragma: no cover - overridden
        raise NotImplementedError

    # --- connection ----------------------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def connect(self, handshake: bool = True) -> None:
        """Open the port; with ``handshake`` check every motor answers with its expected model number."""
        import serial  # pyserial, imported on use so the rest of the package works without it

        if self.is_connected:
            raise RuntimeError(f"{type(self).__name__} on {self.port} is already connected")
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError) as e:
            raise ConnectionError(
                f"could not open {self.port!r}: {e}. Check the cable and the port name "
                "(ls /dev/ttyACM* /dev/ttyUSB*) and that you may access it (dialout group)."
            ) from e
        try:
            self._fd = self._serial.fileno()
        except Exception:  # pragma: no cover - non-posix
            self._fd = None
        if handshake:
            try:
                self._handshake()
            except BaseException:
                self.disconnect(disable_torque=False)
                raise

    def _handshake(self) -> None:
        missing, wrong = [], []
        for name, motor in self.motors.items():
            model = self.ping(name)
            if model is None:
                missing.append(f"{name} (id {motor.id})")
            elif model != self.models[motor.model]:
                wrong.append(f"{name} (id {motor.id}): model number {model}, expected {self.models[motor.model]}")
        if missing or wrong:
            raise MotorBusError(
                f"{self.protocol_name} bus on {self.port} at {self.baudrate} baud: "
                + (f"no answer from {', '.join(missing)}. " if missing else "")
                + (f"wrong models: {'; '.join(wrong)}. " if wrong else "")
                + "Check power, ids (run motor set-up) and baud rate."
            )

    def disconnect(self, disable_torque: bool = True) -> None:
        if self._serial is None:
            return
        if disable_torque and self._serial.is_open:
            with contextlib.suppress(MotorBusError, OSError):
                self.disable_torque()
        with contextlib.suppress(OSError):
            self._serial.close()
        self._serial = None
        self._fd = None

    def set_baudrate(self, baudrate: int) -> None:
        """Change the host side's baud rate (write the motors' ``Baud_Rate`` register first)."""
        if baudrate not in self.baudrates:
            raise ValueError(f"{self.protocol_name} baud rate must be one of {sorted(self.baudrates)}, got {baudrate}")
        self.baudrate = baudrate
        if self._serial is not None:
            self._serial.baudrate = baudrate

    def setup_motor(self, motor: str, scan_baudrates: Iterable[int] | None = None) -> None:
        """Give the only motor on the bus ``motor``'s id and the bus' baud rate (upstream's ``setup_motor``).

        Connect exactly one motor (factory settings or any id/baud): its baud rate is found by broadcast pings.
        """
        target = self.motors[motor]
        wanted = self.baudrate
        found: tuple[int, int] | None = None
        for baud in [wanted, *[b for b in (scan_baudrates or sorted(self.baudrates, reverse=True)) if b != wanted]]:
            self.set_baudrate(baud)
            replies = self.broadcast_ping()
            if len(replies) > 1:
                self.set_baudrate(wanted)
                raise MotorBusError(f"{len(replies)} motors answer at {baud} baud (ids {sorted(replies)}); "
                                    f"connect only the {motor!r} motor")  # fmt: skip
            if replies:
                (found_id, model), = replies.items()
                if model != self.models[target.model]:
                    self.set_baudrate(wanted)
                    raise MotorBusError(f"the connected motor is model {model}, {motor!r} needs a {target.model} "
                                        f"({self.models[target.model]})")  # fmt: skip
                found = (found_id, baud)
                break
        if found is None:
            self.set_baudrate(wanted)
            raise MotorBusError(f"no motor answers on {self.port} at any baud rate; check power and cable")
        found_id, baud = found
        self._write_id_raw(found_id, "Torque_Enable", 0)
        self._write_id_raw(found_id, "Lock", 0)
        # Which id acknowledges an id change differs between firmwares: do not wait, verify by pinging.
        for _ in range(self.num_retry + 1):
            self._write_id_raw(found_id, "ID", target.id, acknowledged=False)
            if self.ping(target.id, num_retry=1) is not None:
                break
        else:
            raise MotorBusError(f"the motor did not take id {target.id} for {motor!r}; check the cable and retry")
        if baud != wanted:  # the reply may come at either rate: verify by pinging at the new one
            self._write_id_raw(target.id, "Baud_Rate", self.baudrates[wanted], acknowledged=False)
            time.sleep(0.05)
        self.set_baudrate(wanted)
        if self.ping(motor) is None:
            raise MotorBusError(f"{motor!r} does not answer at id {target.id}, {wanted} baud after set-up")

    def _write_id_raw(self, motor_id: int, register: str, value: int, acknowledged: bool = True) -> None:
        if register not in self.table:
            return  # e.g. Dynamixel has no Lock register
        addr, size = self._register(register)
        packet = self.codec.packet(motor_id, p.WRITE, p.write_params(self.codec, addr, self._encode(register, value, size)))
        if not acknowledged:
            self._transact(packet, [], None, 0.0)
            return
        for _ in range(self.num_retry + 1):
            if motor_id in self._transact(packet, [motor_id], 0, self._timeout_for(16 + size)):
                return
        raise MotorBusError(f"motor id {motor_id} did not acknowledge writing {register}={value}")

    def _require_connected(self) -> None:
        if not self.is_connected:
            raise ConnectionError(f"{type(self).__name__} on {self.port} is not connected; call connect() first")

    # --- transport -----------------------------------------------------------------------------------------
    def _timeout_for(self, n_bytes: int) -> float:
        return self.timeout_s + n_bytes * 10.0 / self.baudrate

    def _transact(
        self, packet: bytes, expect: list[int], reply_len: int | None, timeout: float, count_missing: bool = True
    ) -> dict[int, p.Packet]:
        """Send ``packet`` and collect status packets from the ``expect``ed ids until all came or time ran out."""
        self._require_connected()
        ser = self._serial
        with self._lock:
            self.stats.transactions += 1
            ser.reset_input_buffer()
            ser.write(packet)
            if not expect:
                return {}
            replies: dict[int, p.Packet] = {}
            buf = bytearray()
            deadline = time.monotonic() + timeout
            while len(replies) < len(expect):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if self._fd is not None:
                    ready, _, _ = select.select([self._fd], [], [], remaining)
                    if not ready:
                        break
                else:  # pragma: no cover - non-posix
                    time.sleep(0.0005)
                buf += ser.read(max(1, ser.in_waiting))
                while buf:
                    result = self.codec.parse(buf, status=True)
                    del buf[: result.consumed]
                    if result.corrupt:
                        self.stats.corrupt += 1
                        continue
                    if result.packet is None:
                        break
                    pkt = result.packet
                    if pkt.motor_id not in expect or pkt.motor_id in replies:
                        continue
                    if reply_len is not None and len(pkt.params) != reply_len:
                        self.stats.corrupt += 1
                        continue
                    if pkt.error:
                        self.stats.status_errors += 1
                        self._note(f"motor id {pkt.motor_id} reports error 0x{pkt.error:02x}")
                    replies[pkt.motor_id] = pkt
            if count_missing:
                self.stats.timeouts += len(expect) - len(replies)
            return replies

    def _note(self, message: str) -> None:
        self.stats.last_error = message
        total = self.stats.timeouts + self.stats.corrupt + self.stats.status_errors
        if total <= 5 or total % 100 == 0:
            logger.warning("%s bus %s: %s (%d errors so far)", self.protocol_name, self.port, message, total)

    # --- register encoding ---------------------------------------------------------------------------------
    def _register(self, name: str) -> tuple[int, int]:
        try:
            return self.table[name]
        except KeyError:
            raise KeyError(f"unknown {self.protocol_name} register {name!r}; known: {sorted(self.table)}") from None

    def _encode(self, register: str, value: int, size: int) -> bytes:
        return self.codec.encode(int(value), size)

    def _decode(self, register: str, data: bytes) -> int:
        return self.codec.decode(data)

    def _to_ticks(self, register: str, motor: str, value: float) -> int:
        if register not in NORMALIZED_REGISTERS:
            return round(value)
        calib = self._calibration(motor)
        m = self.motors[motor]
        return round(value_to_ticks(value, calib, m.norm_mode, tables.resolution(m.model)))

    def _from_ticks(self, register: str, motor: str, ticks: int) -> float:
        if register not in NORMALIZED_REGISTERS:
            return ticks
        m = self.motors[motor]
        return ticks_to_value(ticks, self._calibration(motor), m.norm_mode, tables.resolution(m.model))

    def _calibration(self, motor: str) -> MotorCalibration:
        try:
            return self.calibration[motor]
        except KeyError:
            raise RuntimeError(
                f"motor {motor!r} has no calibration: calibrate the robot or pass normalize=False"
            ) from None

    def _names(self, motors: str | Iterable[str] | None) -> list[str]:
        if motors is None:
            return list(self.motors)
        names = [motors] if isinstance(motors, str) else list(motors)
        unknown = [n for n in names if n not in self.motors]
        if unknown:
            raise KeyError(f"unknown motors {unknown}; the bus has {list(self.motors)}")
        return names

    # --- single-motor access -------------------------------------------------------------------------------
    def ping(self, motor: str | int, num_retry: int | None = None) -> int | None:
        """Model number of ``motor`` (name or id), or ``None`` when it does not answer."""
        motor_id = self.motors[motor].id if isinstance(motor, str) else int(motor)
        for _ in range((self.num_retry if num_retry is None else num_retry) + 1):
            replies = self._transact(self.codec.packet(motor_id, p.PING), [motor_id], None, self._timeout_for(16))
            if motor_id in replies:
                pkt = replies[motor_id]
                if len(pkt.params) >= 2:  # Dynamixel answers with its model number
                    return p.decode_uint(pkt.params[:2])
                return int(self._read_raw("Model_Number", motor_id))
        return None

    def broadcast_ping(self, timeout_s: float = 0.05) -> dict[int, int]:
        """``{id: model number}`` of every motor that answers a broadcast ping within ``timeout_s``."""
        replies = self._transact(self.codec.packet(p.BROADCAST_ID, p.PING), list(range(253)), None,
                                 timeout_s + self._timeout_for(16 * 20), count_missing=False)  # fmt: skip
        return {mid: (p.decode_uint(pkt.params[:2]) if len(pkt.params) >= 2 else int(self._read_raw("Model_Number", mid)))
                for mid, pkt in sorted(replies.items())}  # fmt: skip

    def _read_raw(self, register: str, motor_id: int) -> int:
        addr, size = self._register(register)
        packet = self.codec.packet(motor_id, p.READ, p.address_params(self.codec, addr, size))
        for _ in range(self.num_retry + 1):
            replies = self._transact(packet, [motor_id], size, self._timeout_for(16 + size))
            if motor_id in replies:
                return self._decode(register, replies[motor_id].params)
        name = self._id_to_name.get(motor_id, f"id {motor_id}")
        self._note(f"no reply from {name} reading {register}")
        raise MotorBusError(f"{self.protocol_name} motor {name} did not answer a read of {register} "
                            f"after {self.num_retry + 1} tries (port {self.port})")  # fmt: skip

    def read(self, register: str, motor: str, normalize: bool = True) -> float:
        """One register of one motor (calibrated units for positions when ``normalize``)."""
        ticks = self._read_raw(register, self.motors[motor].id)
        return self._from_ticks(register, motor, ticks) if normalize else ticks

    def write(self, register: str, motor: str, value: float, normalize: bool = True) -> None:
        """Write one register and wait for the motor's acknowledgement (retried, then ``MotorBusError``)."""
        addr, size = self._register(register)
        ticks = self._to_ticks(register, motor, value) if normalize else int(value)
        motor_id = self.motors[motor].id
        packet = self.codec.packet(motor_id, p.WRITE, p.write_params(self.codec, addr, self._encode(register, ticks, size)))
        for _ in range(self.num_retry + 1):
            if motor_id in self._transact(packet, [motor_id], 0, self._timeout_for(16 + size)):
                return
        self._note(f"no acknowledgement from {motor} writing {register}")
        raise MotorBusError(f"{self.protocol_name} motor {motor} did not acknowledge a write of {register} "
                            f"after {self.num_retry + 1} tries (port {self.port})")  # fmt: skip

    # --- group access (the control loop) -------------------------------------------------------------------
    def sync_read(self, register: str, motors: str | Iterable[str] | None = None, normalize: bool = True) -> dict[str, float]:
        """One register of many motors in one transaction; lost replies give the last known value."""
        names = self._names(motors)
        addr, size = self._register(register)
        ids = [self.motors[n].id for n in names]
        packet = self.codec.packet(p.BROADCAST_ID, p.SYNC_READ, p.address_params(self.codec, addr, size) + bytes(ids))
        replies = self._transact(packet, ids, size, self._timeout_for(len(ids) * (12 + size)))
        last = self._last.setdefault(register, {})
        out: dict[str, float] = {}
        for name, motor_id in zip(names, ids):
            if motor_id in replies:
                last[name] = self._decode(register, replies[motor_id].params)
            else:
                self.stats.lost_by_motor[name] = self.stats.lost_by_motor.get(name, 0) + 1
                self._note(f"lost reply from {name} (id {motor_id}) reading {register}; using last known state")
                if name not in last:
                    last[name] = self._read_raw(register, motor_id)  # no state yet: try harder, or raise
            out[name] = self._from_ticks(register, name, last[name]) if normalize else last[name]
        return out

    def sync_write(self, register: str, values: dict[str, float], normalize: bool = True) -> None:
        """Write one register of many motors in one packet (no replies on the bus)."""
        addr, size = self._register(register)
        body = bytearray()
        for name, value in values.items():
            if name not in self.motors:
                raise KeyError(f"unknown motor {name!r}; the bus has {list(self.motors)}")
            ticks = self._to_ticks(register, name, value) if normalize else int(value)
            body += bytes([self.motors[name].id]) + self._encode(register, ticks, size)
        params = p.address_params(self.codec, addr, size) + bytes(body)
        self._transact(self.codec.packet(p.BROADCAST_ID, p.SYNC_WRITE, params), [], None, 0.0)

    # --- torque, modes -------------------------------------------------------------------------------------
    def enable_torque(self, motors: str | Iterable[str] | None = None) -> None:
        for name in self._names(motors):
            self.write("Torque_Enable", name, 1, normalize=False)

    def disable_torque(self, motors: str | Iterable[str] | None = None) -> None:
        for name in self._names(motors):
            self.write("Torque_Enable", name, 0, normalize=False)

    @contextlib.contextmanager
    def torque_disabled(self, motors: str | Iterable[str] | None = None) -> Iterator[None]:
        """Torque off inside the block (EEPROM writes need it), back on after."""
        self.disable_torque(motors)
        try:
            yield
        finally:
            self.enable_torque(motors)

    def set_operating_mode(self, mode: int, motors: str | Iterable[str] | None = None) -> None:
        for name in self._names(motors):
            self.write("Operating_Mode", name, int(mode), normalize=False)

    # --- calibration ---------------------------------------------------------------------------------------
    def _half_turn_homing(self, raw_position: int, resolution: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_half_turn_homings(self, motors: str | Iterable[str] | None = None) -> dict[str, int]:
        """Write homing offsets so the present pose reads the encoder centre (2047); return them."""
        names = self._names(motors)
        for name in names:
            self.write("Homing_Offset", name, 0, normalize=False)
        raw = {name: self._read_raw("Present_Position", self.motors[name].id) for name in names}
        homings = {}
        for name in names:
            homings[name] = self._half_turn_homing(raw[name], tables.resolution(self.motors[name].model))
            self.write("Homing_Offset", name, homings[name], normalize=False)
        return homings

    def record_ranges_of_motion(
        self,
        motors: str | Iterable[str] | None = None,
        stop: Callable[[], bool] | threading.Event | None = None,
        poll_s: float = 0.02,
        max_duration_s: float | None = None,
        on_update: Callable[[dict[str, int], dict[str, int], dict[str, int]], None] | None = None,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Track min/max ``Present_Position`` while the user moves the joints, until ``stop`` says so."""
        names = self._names(motors)
        should_stop = stop.is_set if isinstance(stop, threading.Event) else stop
        start = time.monotonic()
        positions = self.sync_read("Present_Position", names, normalize=False)
        mins, maxes = dict(positions), dict(positions)
        while True:
            positions = self.sync_read("Present_Position", names, normalize=False)
            for n in names:
                mins[n] = min(mins[n], positions[n])
                maxes[n] = max(maxes[n], positions[n])
            if on_update:
                on_update(positions, mins, maxes)
            if should_stop is not None and should_stop():
                break
            if max_duration_s is not None and time.monotonic() - start >= max_duration_s:
                break
            time.sleep(poll_s)
        same = [n for n in names if mins[n] == maxes[n]]
        if same:
            raise ValueError(f"joints {same} did not move during range recording; move each through its full range")
        return {n: int(v) for n, v in mins.items()}, {n: int(v) for n, v in maxes.items()}

    def write_calibration(self, calibration: dict[str, MotorCalibration]) -> None:
        """Store homing offsets and position limits in the motors, and use ``calibration`` for conversions."""
        for name, calib in calibration.items():
            if name not in self.motors:
                raise KeyError(f"calibration for unknown motor {name!r}; the bus has {list(self.motors)}")
            self.write("Homing_Offset", name, calib.homing_offset, normalize=False)
            self.write("Min_Position_Limit", name, calib.range_min, normalize=False)
            self.write("Max_Position_Limit", name, calib.range_max, normalize=False)
        self.calibration = dict(calibration)

    def read_calibration(self) -> dict[str, MotorCalibration]:
        """The calibration stored in the motors (drive mode taken from the bus' calibration, else 0)."""
        out = {}
        for name, motor in self.motors.items():
            drive_mode = self.calibration[name].drive_mode if name in self.calibration else 0
            out[name] = MotorCalibration(
                id=motor.id,
                drive_mode=drive_mode,
                homing_offset=int(self.read("Homing_Offset", name, normalize=False)),
                range_min=int(self.read("Min_Position_Limit", name, normalize=False)),
                range_max=int(self.read("Max_Position_Limit", name, normalize=False)),
            )
        return out

    def is_calibrated(self) -> bool:
        """The motors hold the same homing offsets and limits as ``self.calibration``."""
        if set(self.calibration) != set(self.motors):
            return False
        stored = self.read_calibration()
        return all(
            (s.homing_offset, s.range_min, s.range_max) == (c.homing_offset, c.range_min, c.range_max)
            for s, c in ((stored[n], self.calibration[n]) for n in self.motors)
        )


class FeetechMotorsBus(MotorsBus):
    """Feetech STS/SMS (little-endian) and SCS (big-endian) servos, e.g. STS3215 in SO-100/SO-101."""

    protocol_name = "feetech"
    table = tables.FEETECH_STS_TABLE
    models = tables.FEETECH_MODELS
    baudrates = tables.FEETECH_BAUDRATES

    def _make_codec(self) -> p.FeetechProtocol:
        big = {m.model in tables.FEETECH_BIG_ENDIAN for m in self.motors.values()}
        if len(big) > 1:
            raise ValueError("one Feetech bus cannot mix SCS (big-endian) and STS (little-endian) servos")
        return p.FeetechProtocol(big_endian=big == {True})

    def _encode(self, register: str, value: int, size: int) -> bytes:
        bit = tables.FEETECH_SIGN_BITS.get(register)
        if bit is not None:
            magnitude = abs(int(value))
            if magnitude >= 1 << bit:
                raise ValueError(f"{register} value {value} does not fit in {bit} bits plus sign")
            value = magnitude | ((1 << bit) if value < 0 else 0)
        return self.codec.encode(int(value), size)

    def _decode(self, register: str, data: bytes) -> int:
        value = self.codec.decode(data)
        bit = tables.FEETECH_SIGN_BITS.get(register)
        if bit is not None and value >> bit & 1:
            return -(value & ((1 << bit) - 1))
        return value

    def _half_turn_homing(self, raw_position: int, resolution: int) -> int:
        return raw_position - (resolution - 1) // 2  # the motor reports Actual - Homing_Offset

    def enable_torque(self, motors: str | Iterable[str] | None = None) -> None:
        for name in self._names(motors):
            self.write("Torque_Enable", name, 1, normalize=False)
            self.write("Lock", name, 1, normalize=False)

    def disable_torque(self, motors: str | Iterable[str] | None = None) -> None:
        for name in self._names(motors):
            self.write("Torque_Enable", name, 0, normalize=False)
            self.write("Lock", name, 0, normalize=False)  # EEPROM (homing, limits, mode) writable


class DynamixelMotorsBus(MotorsBus):
    """ROBOTIS X-series servos on Protocol 2.0, e.g. XL430/XL330 in the Koch arms."""

    protocol_name = "dynamixel"
    table = tables.DYNAMIXEL_X_TABLE
    models = tables.DYNAMIXEL_MODELS
    baudrates = tables.DYNAMIXEL_BAUDRATES

    def _make_codec(self) -> p.DynamixelProtocol:
        return p.DynamixelProtocol()

    def _decode(self, register: str, data: bytes) -> int:
        value = self.codec.decode(data)
        if register in tables.DYNAMIXEL_SIGNED and value >> (8 * len(data) - 1):
            value -= 1 << (8 * len(data))
        return value

    def _half_turn_homing(self, raw_position: int, resolution: int) -> int:
        return (resolution - 1) // 2 - raw_position  # the motor reports Actual + Homing_Offset
