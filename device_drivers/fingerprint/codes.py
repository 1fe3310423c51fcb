"""R30x confirmation codes, their datasheet meaning, and the typed errors a non-OK code becomes.

Split from ``protocol`` (which re-exports every name here) so the frame format and the sensor's vocabulary of
answers can each be read on their own; still pure, no I/O.
"""

from __future__ import annotations

import enum

from ..errors import DeviceError


class ConfirmationCode(enum.IntEnum):
    OK = 0x00
    PACKET_RECEIVE_ERROR = 0x01
    NO_FINGER = 0x02
    ENROLL_FAILED = 0x03
    IMAGE_TOO_MESSY = 0x06
    TOO_FEW_FEATURES = 0x07
    NO_MATCH = 0x08
    NOT_FOUND = 0x09
    COMBINE_FAILED = 0x0A
    BAD_LOCATION = 0x0B
    TEMPLATE_UPLOAD_FAILED = 0x0D
    DATA_RECEIVE_FAILED = 0x0E
    IMAGE_UPLOAD_FAILED = 0x0F
    WRONG_PASSWORD = 0x13
    NO_VALID_IMAGE = 0x15
    FLASH_ERROR = 0x18
    UNDEFINED_ERROR = 0x19
    INVALID_REGISTER = 0x1A
    BAD_REGISTER_VALUE = 0x1B
    PORT_FAILURE = 0x1D
    PASSWORD_NOT_VERIFIED = 0x21
    SENSOR_HARDWARE_ERROR = 0x29
    UNSUPPORTED_COMMAND = 0xFC
    HARDWARE_ERROR = 0xFD
    COMMAND_FAILED = 0xFE

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    ConfirmationCode.OK: "command executed",
    ConfirmationCode.PACKET_RECEIVE_ERROR: "the sensor received a damaged packet (bad checksum or framing)",
    ConfirmationCode.NO_FINGER: "no finger on the sensor",
    ConfirmationCode.ENROLL_FAILED: "the sensor failed to take the finger image",
    ConfirmationCode.IMAGE_TOO_MESSY: "the finger image is too messy to extract features (smudged or wet finger)",
    ConfirmationCode.TOO_FEW_FEATURES: "too few features in the finger image (finger too small or off-centre)",
    ConfirmationCode.NO_MATCH: "the finger does not match",
    ConfirmationCode.NOT_FOUND: "no matching finger in the library",
    ConfirmationCode.COMBINE_FAILED: "the character files do not belong to one finger",
    ConfirmationCode.BAD_LOCATION: "template number beyond the library",
    ConfirmationCode.TEMPLATE_UPLOAD_FAILED: "error uploading the template",
    ConfirmationCode.DATA_RECEIVE_FAILED: "the sensor cannot receive the following data packets",
    ConfirmationCode.IMAGE_UPLOAD_FAILED: "error uploading the image",
    ConfirmationCode.WRONG_PASSWORD: "wrong sensor password",
    ConfirmationCode.NO_VALID_IMAGE: "no valid image in the image buffer (take an image first)",
    ConfirmationCode.FLASH_ERROR: "error writing the sensor's flash",
    ConfirmationCode.UNDEFINED_ERROR: "undefined sensor error",
    ConfirmationCode.INVALID_REGISTER: "invalid system parameter register",
    ConfirmationCode.BAD_REGISTER_VALUE: "invalid value for a system parameter register",
    ConfirmationCode.PORT_FAILURE: "the sensor failed to operate its communication port",
    ConfirmationCode.PASSWORD_NOT_VERIFIED: "the sensor password must be verified first",
    ConfirmationCode.SENSOR_HARDWARE_ERROR: "the sensor reports a hardware fault",
    ConfirmationCode.UNSUPPORTED_COMMAND: "this sensor model does not support the command",
    ConfirmationCode.HARDWARE_ERROR: "the module reports a hardware error",
    ConfirmationCode.COMMAND_FAILED: "command execution failed",
}


def describe_code(code: int) -> str:
    """Human text for any confirmation code byte, known or not."""
    try:
        return ConfirmationCode(code).message
    except ValueError:
        return f"unknown confirmation code 0x{code:02X}"


# errors ---------------------------------------------------------------------------------------------------------
class ConfirmationError(DeviceError):
    """The sensor answered, with a confirmation code other than OK. ``code`` is the raw byte."""

    def __init__(self, code: int, *, port: str | None = None, expected: str | None = None) -> None:
        self.code = code
        super().__init__(f"sensor answered 0x{code:02X}: {describe_code(code)}", port=port, expected=expected)


class BadPacket(ConfirmationError):
    """0x01: the sensor says the packet it received was damaged."""


class NoFinger(ConfirmationError):
    """0x02: nothing on the glass (the capture poll handles this; it escapes only from single calls)."""


class ImageCaptureFailed(ConfirmationError):
    """0x03: the sensor could not take an image."""


class ImageQualityError(ConfirmationError):
    """The image was taken but features could not be extracted: ask the resident to try again."""


class ImageTooMessy(ImageQualityError):
    """0x06."""


class TooFewFeatures(ImageQualityError):
    """0x07."""


class NoValidImage(ConfirmationError):
    """0x15: Img2Tz with nothing in the image buffer."""


class WrongPassword(ConfirmationError):
    """0x13 (or 0x21, password not verified)."""


class UnsupportedCommand(ConfirmationError):
    """0xFC: this model lacks the command (e.g. aura LED or product info on an R307)."""


class InvalidSetting(ConfirmationError):
    """0x1A / 0x1B: bad system-parameter register or value."""


_ERROR_CLASSES: dict[int, type[ConfirmationError]] = {
    ConfirmationCode.PACKET_RECEIVE_ERROR: BadPacket,
    ConfirmationCode.NO_FINGER: NoFinger,
    ConfirmationCode.ENROLL_FAILED: ImageCaptureFailed,
    ConfirmationCode.IMAGE_TOO_MESSY: ImageTooMessy,
    ConfirmationCode.TOO_FEW_FEATURES: TooFewFeatures,
    ConfirmationCode.NO_VALID_IMAGE: NoValidImage,
    ConfirmationCode.WRONG_PASSWORD: WrongPassword,
    ConfirmationCode.PASSWORD_NOT_VERIFIED: WrongPassword,
    ConfirmationCode.UNSUPPORTED_COMMAND: UnsupportedCommand,
    ConfirmationCode.INVALID_REGISTER: InvalidSetting,
    ConfirmationCode.BAD_REGISTER_VALUE: InvalidSetting,
}


def error_for_code(code: int, *, port: str | None = None, expected: str | None = None) -> ConfirmationError:
    """The specific exception for a non-OK confirmation code."""
    return _ERROR_CLASSES.get(code, ConfirmationError)(code, port=port, expected=expected)
