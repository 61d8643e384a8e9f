"""Images: the one way to turn a path or untrusted bytes into model input, arrays back into PNGs, and stored arrays
into model tensors. The face of the package; its modules are private, split along one axis:

- `_decode`: bytes or a path -> float pixels (limits: MAX_UPLOAD_BYTES, MAX_FILE_BYTES, MIN/MAX_DECODE_SIDE)
- `_layout`: framing a digit like the data set's (`Layout`), `_paper`: the paper behind a drawing
- `_pixels`: grey and colour pixels from Pillow, `conform` (grey <-> colour, resize)
- `_read`: the pipeline (`read_image`, `read_native`, `to_model_input`)
- `_encode`: PNG bytes and data URLs
- `_arrays`: the array convention, uint8 (N, H, W[, 3]) <-> float32 (N, C, H, W), and the one rounding rule
"""

from latentlab.images._arrays import (
    as_uint8_images,
    stored_layout,
    stored_shape,
    to_float,
    to_images,
    to_uint8,
    to_uint8_images,
)
from latentlab.images._decode import FORMATS, MAX_FILE_BYTES, MAX_UPLOAD_BYTES, decode
from latentlab.images._encode import data_url, png
from latentlab.images._layout import MAX_DECODE_SIDE, MIN_DECODE_SIDE, SIDE, Layout
from latentlab.images._pixels import conform, gray_pixels
from latentlab.images._read import BLANK, Prepared, layout_for, read_image, read_native, to_model_input

__all__ = ["BLANK", "FORMATS", "MAX_DECODE_SIDE", "MAX_FILE_BYTES", "MAX_UPLOAD_BYTES", "MIN_DECODE_SIDE", "SIDE",
           "Layout", "Prepared", "as_uint8_images", "conform", "data_url", "decode", "gray_pixels", "layout_for",
           "png", "read_image", "read_native", "stored_layout", "stored_shape", "to_float", "to_images",
           "to_model_input", "to_uint8", "to_uint8_images"]
