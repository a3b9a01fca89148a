"""Zigbee Smart Energy install codes: 6, 8, 12 or 16 bytes followed by their CRC-16/X-25,
little-endian. Pure functions."""

from __future__ import annotations

CODE_LENGTHS = (6, 8, 12, 16)


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25: reflected polynomial 0x1021 (0x8408), init 0xFFFF, final XOR 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def with_crc(code: bytes) -> str:
    """The install code `code` with its CRC appended, as upper-case hex."""
    return (code + crc16_x25(code).to_bytes(2, "little")).hex().upper()


def is_valid(install_code: str) -> bool:
    """True when `install_code` (hex) is a supported length and its CRC matches."""
    try:
        raw = bytes.fromhex(install_code)
    except ValueError:
        return False
    code, crc = raw[:-2], raw[-2:]
    return len(code) in CODE_LENGTHS and crc16_x25(code).to_bytes(2, "little") == crc
