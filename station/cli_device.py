"""``jemput device ...``: check one part from the command line, on a real port or against its emulator.

Every check uses the same driver the station uses, so "it works here" means it works in the kiosk. ``--simulate``
runs the part's emulator (pty for serial parts, register-level fake bus for I2C gauges, a local pisugar-server)
so the commands can be tried, and tested, without hardware. Images written with ``--out`` are biometric data:
the file is created 0600 and the command says so; delete it after the check.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from device_drivers.base import Health
from device_drivers.errors import DeviceError
from station.devices import DeviceUnavailable


def _int_auto(value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (use 66 or 0x42)") from None


def _unavailable(name: str, exc: DeviceError) -> DeviceUnavailable:
    from device_drivers.errors import DeviceDisconnected

    health = Health.ABSENT if isinstance(exc, DeviceDisconnected) else Health.FAULT
    return DeviceUnavailable(name, health, str(exc))


def _write_private(path: Path, data: bytes) -> None:
    """Biometric bytes: owner-only file, and a warning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    click.echo(f"wrote {path} ({len(data)} bytes, mode 0600) - biometric data: delete it after the check", err=True)


@click.group("device")
def device_group() -> None:
    """Check devices (fingerprint sensor, signature pad, camera, battery, slip printer)."""


@device_group.group("check")
def check_group() -> None:
    """Talk to one device with the station's driver and print what it says."""


@contextlib.contextmanager
def _fingerprint_port(port: str | None, simulate: bool, pace: bool) -> Iterator[str]:
    if not simulate:
        if not port:
            raise click.UsageError("--port is required (or use --simulate)")
        yield port
        return
    from device_drivers.fingerprint.emulator import FakeR30x

    with FakeR30x("R307", pace=pace, link_dir=tempfile.mkdtemp(prefix="jemput-check-")) as fake:
        fake.place_finger("good", seed=1)
        yield fake.port


@check_group.command("fingerprint")
@click.option("--port", help="Serial port, e.g. /dev/jemput-fingerprint or /dev/ttyUSB0.")
@click.option("--baudrate", type=int, default=57600, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the captured image as PNG.")
@click.option("--timeout", "timeout_s", type=float, default=15.0, show_default=True,
              help="Seconds to wait for a finger.")
@click.option("--simulate", is_flag=True, help="Use the R307 emulator on a pseudo-terminal.")
@click.option("--sim-pace/--no-sim-pace", default=True, hidden=True)
def check_fingerprint(port: str | None, baudrate: int, out: Path | None, timeout_s: float, simulate: bool,
                      sim_pace: bool) -> None:
    """Print the sensor's system parameters and capture one image."""
    import cv2

    from device_drivers.fingerprint import R30xSensor

    with _fingerprint_port(port, simulate, sim_pace) as real_port:
        try:
            with R30xSensor(real_port, baudrate=baudrate) as sensor:
                sensor.verify_password()
                params = sensor.read_system_parameters()
                for key, value in params.items():
                    click.echo(f"{key}: {value:#x}" if key == "address" else f"{key}: {value}")
                click.echo(f"place a finger on the sensor (waiting {timeout_s:g} s)...", err=True)
                image = sensor.capture_image(timeout=timeout_s)
        except DeviceError as exc:
            raise _unavailable("fingerprint", exc) from exc
    height, width = image.shape
    click.echo(f"image: {width}x{height}, mean {float(image.mean()):.1f}")
    if out is not None:
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise click.ClickException("could not encode the image as PNG")
        _write_private(out, buf.tobytes())


@check_group.command("printer")
@click.option("--port", help="Serial port, e.g. /dev/jemput-printer.")
@click.option("--baudrate", type=int, default=9600, show_default=True)
@click.option("--simulate", is_flag=True, help="Use the ESC/POS printer emulator on a pseudo-terminal.")
def check_printer(port: str | None, baudrate: int, simulate: bool) -> None:
    """Print the slip printer's status (paper, cover) and a test page with a QR code."""
    from device_drivers.printer import EscPosPrinter, FakeEscPosPrinter
    from device_drivers.printer import protocol as p

    with contextlib.ExitStack() as stack:
        fake = None
        if simulate:
            fake = stack.enter_context(FakeEscPosPrinter(link_dir=tempfile.mkdtemp(prefix="jemput-check-"),
                                                         baudrate=baudrate, pace=False))
            port = fake.port
        elif not port:
            raise click.UsageError("--port is required (or use --simulate)")
        try:
            printer = stack.enter_context(EscPosPrinter(port, baudrate))
            state = printer.state()
            click.echo(f"ready: {state.ready}, paper out: {state.paper_out}, paper near end: "
                       f"{state.paper_near_end}, cover open: {state.cover_open}")
            printer.print_document(p.init() + p.align(p.Align.CENTER) + p.text_line("JEMPUT: TES PRINTER")
                                   + p.qr_code("JEMPUT TEST") + p.feed(3) + p.cut())
        except DeviceError as exc:
            raise _unavailable("printer", exc) from exc
        click.echo("test page printed")
        if fake is not None and fake.wait_for_slips(1, timeout_s=2.0):
            click.echo("emulator printed: " + " / ".join(fake.last_slip.lines + fake.last_slip.qr_payloads))


@check_group.command("sigpad")
@click.option("--port", help="Serial port, e.g. /dev/jemput-sigpad.")
@click.option("--baudrate", type=int, default=19200, show_default=True)
@click.option("--seconds", type=float, default=10.0, show_default=True, help="How long to listen.")
@click.option("--simulate", is_flag=True, help="Use the pad emulator, which signs once.")
def check_sigpad(port: str | None, baudrate: int, seconds: float, simulate: bool) -> None:
    """Listen to the pad and print the points and strokes it sends."""
    from device_drivers.signature_pad import FakeTopazPad, TopazPad, assemble_strokes

    with contextlib.ExitStack() as stack:
        if simulate:
            fake = stack.enter_context(FakeTopazPad(link_dir=tempfile.mkdtemp(prefix="jemput-check-")))
            port = fake.port
        elif not port:
            raise click.UsageError("--port is required (or use --simulate)")
        try:
            pad = stack.enter_context(TopazPad(port, baudrate))
            if simulate:
                fake.sign("Siti Aminah", seed=1, block=False)
            click.echo(f"listening on {port} for {seconds:g} s: sign on the pad...", err=True)
            points = pad.collect(seconds)
        except DeviceError as exc:
            raise _unavailable("signature_pad", exc) from exc
        decoder = pad.decoder
    strokes = assemble_strokes(points)
    down = [p for p in points if p.pen_down]
    click.echo(f"points: {len(points)} ({len(down)} pen down), strokes: {len(strokes)}")
    click.echo(f"discarded: {decoder.out_of_range} out-of-range, {decoder.dropped_packets} broken packets, "
               f"{decoder.skipped_bytes} noise bytes")
    if down:
        xs, ys = [p.x for p in down], [p.y for p in down]
        click.echo(f"x range: {min(xs)}..{max(xs)}, y range: {min(ys)}..{max(ys)}")
    for i, stroke in enumerate(strokes[:20], 1):
        click.echo(f"stroke {i}: {len(stroke)} points from ({stroke[0].x}, {stroke[0].y}) "
                   f"to ({stroke[-1].x}, {stroke[-1].y})")


@check_group.command("camera")
@click.option("--backend", type=click.Choice(["opencv", "picamera2", "synthetic"]), default="opencv",
              show_default=True)
@click.option("--source", default="0", show_default=True, help="Device index or path (opencv).")
@click.option("--width", type=int, default=640, show_default=True)
@click.option("--height", type=int, default=480, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save one frame as JPEG.")
@click.option("--simulate", is_flag=True, help="Use the synthetic camera.")
def check_camera(backend: str, source: str, width: int, height: int, out: Path | None, simulate: bool) -> None:
    """Grab a frame and print its size and brightness."""
    import cv2

    from device_drivers.camera import open_camera

    camera = open_camera("synthetic" if simulate else backend, "portrait" if simulate else source, width, height)
    with camera:
        try:
            frame = camera.read()
        except DeviceError as exc:
            raise _unavailable("camera", exc) from exc
    h, w = frame.shape[:2]
    click.echo(f"frame: {w}x{h}, mean brightness {float(frame.mean()):.1f}")
    if out is not None:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise click.ClickException("could not encode the frame as JPEG")
        _write_private(out, buf.tobytes())


@check_group.command("battery")
@click.option("--kind", type=click.Choice(["ina219", "max1704x", "pisugar"]), required=True)
@click.option("--bus", "bus_number", type=int, default=1, show_default=True, help="I2C bus number.")
@click.option("--address", type=_int_auto, default=None, help="I2C address (default 0x42 / 0x36).")
@click.option("--host", default="127.0.0.1", show_default=True, help="pisugar-server host.")
@click.option("--port", type=int, default=8423, show_default=True, help="pisugar-server port.")
@click.option("--power-loss-pin", type=int, default=None, help="BCM GPIO that is high while mains is present.")
@click.option("--simulate", is_flag=True, help="Run the driver against a fake chip / fake pisugar-server.")
def check_battery(kind: str, bus_number: int, address: int | None, host: str, port: int,
                  power_loss_pin: int | None, simulate: bool) -> None:
    """Read the battery once and print percent, voltage, current and mains."""
    from device_drivers.battery import FakeINA219Bus, FakeMAX1704xBus, FakePiSugarServer, open_battery

    with contextlib.ExitStack() as stack:
        fake_bus: Any = None
        if simulate:
            if kind == "pisugar":
                port = stack.enter_context(FakePiSugarServer()).port
                host = "127.0.0.1"
            else:
                fake_bus = (FakeINA219Bus(address or 0x42, voltage_v=7.62, current_a=-0.85) if kind == "ina219"
                            else FakeMAX1704xBus(address or 0x36, voltage_v=3.87, percent=71.4))
        try:
            battery = open_battery(kind, bus=bus_number, address=address, power_loss_pin=power_loss_pin,
                                   pisugar_host=host, pisugar_port=port, i2c_bus=fake_bus)
            assert battery is not None
            with battery:
                reading = battery.read()
        except DeviceError as exc:
            raise _unavailable("battery", exc) from exc
    for key, value in reading.as_dict().items():
        click.echo(f"{key}: {'unknown' if value is None else value}")


@device_group.command("status")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--simulate", is_flag=True, help="Use the emulators instead of the configured ports.")
def device_status(config_path: Path, simulate: bool) -> None:
    """Build the station's device hub from a config and print each device's health."""
    from station.config import load_config
    from station.devices import DeviceHub
    from station.events import EventBus

    hub = DeviceHub(load_config(config_path), EventBus(), simulate=simulate)
    try:
        for name, info in hub.health().items():
            line = f"{name}: {info['health']}"
            if info["health"] != "ok":
                line += f" - {info['reason']} ({info['detail']})"
            click.echo(line)
    finally:
        hub.stop()
