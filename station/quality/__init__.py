"""Capture quality: live photo checks, fingerprint image score, signature sanity (docs/capture-quality.md)."""

from station.quality.fingerprint import FingerprintQuality, fingerprint_score
from station.quality.photo import CheckResult, PhotoChecker, PhotoQuality, crop_portrait
from station.quality.signature import SignatureQuality, signature_quality

__all__ = ["CheckResult", "FingerprintQuality", "PhotoChecker", "PhotoQuality", "SignatureQuality", "crop_portrait",
           "fingerprint_score", "signature_quality"]
