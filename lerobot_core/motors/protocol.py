"""Packet codecs of the two servo protocols, shared by the bus drivers and the test emulator.

* Feetech SCS/STS ("protocol 0"): ``FF FF ID LEN INSTR|ERR PARAMS… CHECKSUM``, LEN = len(params) + 2,
  CHECKSUM = ~(ID + LEN + INSTR + Σparams) & 0xFF.
* Dynamixel Protocol 2.0: ``FF FF FD 00 ID LEN_L LEN_H INSTR PARAMS… CRC_L CRC_H``; status packets carry
  INSTR = 0x55 then an error byte; LEN = len(instr + params + crc); ``FF FF FD`` inside the payload is
  stuffed to ``FF FF FD FD``; CRC-16 (polynomial 0x8005, initial 0) over everything before the CRC.

``parse`` consumes a byte buffer and returns the first complete, valid packet; garbage and corrupt
packets are skipped (and counted by the caller through ``ParseResult.corrupt``).
"""

from __future__ import annotations

from dataclasses import dataclass

PING = 0x01
READ = 0x02
WRITE = 0x03
REG_WRITE = 0x04
ACTION = 0x05
SYNC_READ = 0x82
SYNC_WRITE = 0x83
STATUS = 0x55  # Dynamixel 2.0 status instruction
BROADCAST_ID = 0xFE


@dataclass(frozen=True)
class Packet:
    """A decoded packet. For Feetech, ``instruction`` is the error byte of a status packet."""

    motor_id: int
    instruction: int
    params: bytes
    error: int = 0


@dataclass
class ParseResult:
    packet: Packet | None
    consumed: int  # bytes to drop from the front of the buffer
    corrupt: bool = False  # a framed packet failed its checksum / CRC


def encode_uint(value: int, size: int, big_endian: bool = False) -> bytes:
    return int(value & ((1 << (8 * size)) - 1)).to_bytes(size, "big" if big_endian else "little")


def decode_uint(data: bytes, big_endian: bool = False) -> int:
    return int.from_bytes(data, "big" if big_endian else "little")


class FeetechProtocol:
    name = "feetech"
    HEADER = b"\xff\xff"

    def __init__(self, big_endian: bool = False) -> None:
        self.big_endian = big_endian

    @staticmethod
    def _checksum(body: bytes) -> int:
        return (~sum(body)) & 0xFF

    def packet(self, motor_id: int, instruction: int, params: bytes = b"") -> bytes:
        """An instruction packet (also used for status packets, with the error byte as ``instruction``)."""
        body = bytes([motor_id, len(params) + 2, instruction]) + bytes(params)
        return self.HEADER + body + bytes([self._checksum(body)])

    def status(self, motor_id: int, error: int = 0, params: bytes = b"") -> bytes:
        return self.packet(motor_id, error, params)

    def parse(self, buf: bytes | bytearray, status: bool = False) -> ParseResult:
        start = bytes(buf).find(self.HEADER)
        if start < 0:
            return ParseResult(None, max(0, len(buf) - 1))
        # Skip runs of 0xFF (e.g. FF FF FF ID …) so the id is the first non-0xFF byte.
        while start + 2 < len(buf) and buf[start + 2] == 0xFF:
            start += 1
        if len(buf) < start + 4:
            return ParseResult(None, start)
        length = buf[start + 3]
        if length < 2:
            return ParseResult(None, start + 2, corrupt=True)
        end = start + 4 + length
        if len(buf) < end:
            return ParseResult(None, start)
        body = bytes(buf[start + 2 : end - 1])
        if self._checksum(body) != buf[end - 1]:
            return ParseResult(None, start + 2, corrupt=True)
        motor_id, instr, params = body[0], body[2], body[3:]
        return ParseResult(Packet(motor_id, instr, params, error=instr if status else 0), end)

    def encode(self, value: int, size: int) -> bytes:
        return encode_uint(value, size, self.big_endian)

    def decode(self, data: bytes) -> int:
        return decode_uint(data, self.big_endian)


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/BUYPASS (poly 0x8005, init 0), as in the Dynamixel 2.0 protocol."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    return payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(payload: bytes) -> bytes:
    return payload.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


class DynamixelProtocol:
    name = "dynamixel"
    HEADER = b"\xff\xff\xfd\x00"
    big_endian = False

    def packet(self, motor_id: int, instruction: int, params: bytes = b"") -> bytes:
        payload = stuff(bytes([instruction]) + bytes(params))
        head = self.HEADER + bytes([motor_id]) + (len(payload) + 2).to_bytes(2, "little")
        body = head + payload
        return body + crc16(body).to_bytes(2, "little")

    def status(self, motor_id: int, error: int = 0, params: bytes = b"") -> bytes:
        return self.packet(motor_id, STATUS, bytes([error]) + bytes(params))

    def parse(self, buf: bytes | bytearray, status: bool = False) -> ParseResult:
        data = bytes(buf)
        start = data.find(self.HEADER)
        if start < 0:
            return ParseResult(None, max(0, len(buf) - 3))
        if len(data) < start + 7:
            return ParseResult(None, start)
        length = int.from_bytes(data[start + 5 : start + 7], "little")
        if length < 3 or length > 1024:
            return ParseResult(None, start + 4, corrupt=True)
        end = start + 7 + length
        if len(data) < end:
            return ParseResult(None, start)
        if crc16(data[start : end - 2]) != int.from_bytes(data[end - 2 : end], "little"):
            return ParseResult(None, start + 4, corrupt=True)
        payload = unstuff(data[start + 7 : end - 2])
        motor_id, instr = data[start + 4], payload[0]
        if instr == STATUS:
            if len(payload) < 2:
                return ParseResult(None, end, corrupt=True)
            return ParseResult(Packet(motor_id, instr, payload[2:], error=payload[1]), end)
        return ParseResult(Packet(motor_id, instr, payload[1:]), end)

    def encode(self, value: int, size: int) -> bytes:
        return encode_uint(value, size)

    def decode(self, data: bytes) -> int:
        return decode_uint(data)


# Instruction parameter layouts differ in address/length widths: Feetech 1 byte each, Dynamixel 2 bytes.
def address_params(protocol: FeetechProtocol | DynamixelProtocol, address: int, length: int) -> bytes:
    if isinstance(protocol, DynamixelProtocol):
        return address.to_bytes(2, "little") + length.to_bytes(2, "little")
    return bytes([address, length])


def write_params(protocol: FeetechProtocol | DynamixelProtocol, address: int, data: bytes) -> bytes:
    if isinstance(protocol, DynamixelProtocol):
        return address.to_bytes(2, "little") + data
    return bytes([address]) + data
