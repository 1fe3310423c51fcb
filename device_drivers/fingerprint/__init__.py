"""Fingerprint sensors of the R30x family (R307, R503, AS608, ZFM-20) over a UART.

``R30xSensor`` is the driver, ``FakeR30x`` the pty emulator beside it, ``protocol`` the pure wire format.
"""

from .driver import LedCue, R30xSensor
from .models import MODELS, SensorModel, get_model
from .protocol import (
    AuraColor,
    AuraMode,
    BadPacket,
    ConfirmationCode,
    ConfirmationError,
    ImageQualityError,
    ImageTooMessy,
    NoFinger,
    ProductInfo,
    TooFewFeatures,
    UnsupportedCommand,
    WrongPassword,
)

__all__ = [
    "MODELS", "AuraColor", "AuraMode", "BadPacket", "ConfirmationCode", "ConfirmationError", "ImageQualityError",
    "ImageTooMessy", "LedCue", "NoFinger", "ProductInfo", "R30xSensor", "SensorModel", "TooFewFeatures",
    "UnsupportedCommand", "WrongPassword", "get_model",
]
