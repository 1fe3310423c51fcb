"""Topaz serial signature pads (SigLite family): pure decoder, pyserial driver, stroke tools, pty emulator."""

from device_drivers.signature_pad.driver import TopazPad
from device_drivers.signature_pad.emulator import FakeTopazPad, generate_signature
from device_drivers.signature_pad.protocol import PenPoint, TopazDecoder, decode_packet, encode_packet
from device_drivers.signature_pad.strokes import (
    SIGLITE_T_S460,
    NormPoint,
    PadBounds,
    assemble_strokes,
    normalise_strokes,
    points_to_dicts,
)

__all__ = [
    "FakeTopazPad", "NormPoint", "PadBounds", "PenPoint", "SIGLITE_T_S460", "TopazDecoder", "TopazPad",
    "assemble_strokes", "decode_packet", "encode_packet", "generate_signature", "normalise_strokes",
    "points_to_dicts",
]
