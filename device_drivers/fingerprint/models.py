"""The R30x family: what differs between the parts that speak the same protocol.

The driver needs the image geometry to turn UpImage bytes into pixels, and must know which commands a part
lacks (the aura LED ring and ReadProdInfo exist on the R503 only). The emulator uses the same table, so a test
that runs "R503" exercises exactly what the driver believes an R503 is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SensorModel:
    name: str
    image_width: int
    image_height: int
    library_size: int
    template_bytes: int
    has_aura_led: bool  # AuraLedConfig (0x35): ring LED, R503 family
    has_product_info: bool  # ReadProdInfo (0x3C)
    supply_v: float  # what VCC the part wants; the R503 is a 3.3 V-only part
    default_packet_size_bytes: int = 128

    @property
    def image_bytes(self) -> int:
        """UpImage payload: two 4-bit pixels per byte."""
        return self.image_width * self.image_height // 2


MODELS: dict[str, SensorModel] = {
    m.name: m for m in (
        SensorModel("R307", 256, 288, library_size=1000, template_bytes=512, has_aura_led=False,
                    has_product_info=False, supply_v=5.0),
        SensorModel("R503", 192, 192, library_size=200, template_bytes=1536, has_aura_led=True,
                    has_product_info=True, supply_v=3.3),
        SensorModel("AS608", 256, 288, library_size=300, template_bytes=512, has_aura_led=False,
                    has_product_info=False, supply_v=3.3),
        SensorModel("ZFM-20", 256, 288, library_size=162, template_bytes=512, has_aura_led=False,
                    has_product_info=False, supply_v=5.0),
    )
}

# What an unnamed part that cannot describe itself (no ReadProdInfo) is assumed to be: every such part in the
# table shares the 256x288 optical window.
GENERIC = MODELS["R307"]


def get_model(name: str) -> SensorModel:
    """Look a model up by name, case-insensitively ("r503", "ZFM20" and "zfm-20" all work)."""
    wanted = name.strip().upper().replace("_", "-")
    for key, model in MODELS.items():
        if wanted in (key, key.replace("-", "")):
            return model
    raise ValueError(f"unknown fingerprint sensor model {name!r}; known: {', '.join(MODELS)}")


def model_for_product_name(product: str) -> SensorModel | None:
    """Match what ReadProdInfo calls itself ("R503", "R503-M22", ...) to a table entry."""
    text = product.strip().upper()
    for key, model in MODELS.items():
        if text.startswith(key) or text.startswith(key.replace("-", "")):
            return model
    return None
