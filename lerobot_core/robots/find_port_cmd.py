"""``lerobot-core find-port``: unplug the arm's USB cable when asked; the port that vanished is the arm's."""

from __future__ import annotations

from collections.abc import Callable


def list_ports() -> set[str]:
    from serial.tools import list_ports as lp

    return {port.device for port in lp.comports()}


def find_port(prompt: Callable[[str], str] | None = None, ports: Callable[[], set[str]] = list_ports) -> str:
    prompt = prompt or input
    before = ports()
    print(f"Ports before disconnecting: {sorted(before)}")
    prompt("Remove the USB cable from your motor bus and press Enter when done.")
    gone = before - ports()
    if len(gone) != 1:
        raise OSError(f"could not detect the port: {len(gone)} ports disappeared ({sorted(gone)}); try again")
    port = gone.pop()
    print(f"The port of this motor bus is '{port}'. Reconnect the USB cable.")
    return port


def main(argv: list[str] | None = None) -> int:
    if argv:
        print("usage: lerobot-core find-port   (no arguments)")
        return 0 if argv[0] in ("-h", "--help") else 2
    find_port()
    return 0
