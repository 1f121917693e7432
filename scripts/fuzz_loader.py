"""Fuzz the photo loader: random bytes and mutated real images must only ever raise XlcnnError.

    python scripts/fuzz_loader.py [SECONDS]      # default 180

Each input is either random bytes or one of the corpus images (tests/corpus.py) with a
few bytes overwritten, bytes inserted or deleted, and/or its tail cut; file suffixes
vary so every Pillow plugin is reached. Prints how many inputs were tried and stops at
the first exception that is not an XlcnnError (with the input saved for replay).
"""

import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from corpus import corpus  # noqa: E402
from xlcnn.errors import XlcnnError  # noqa: E402
from xlcnn.image import load_image  # noqa: E402

SUFFIXES = [".jpg", ".png", ".gif", ".bmp", ".tif", ".webp", ".ico", ""]


def mutate(data, rng):
    """A damaged copy of ``data``: overwritten, inserted and deleted bytes, maybe a cut tail."""
    raw = bytearray(data)
    for _ in range(rng.integers(1, 12)):
        position = int(rng.integers(0, max(len(raw), 1)))
        action = rng.integers(0, 3)
        if action == 0 and raw:
            raw[position % len(raw)] = int(rng.integers(0, 256))
        elif action == 1:
            raw[position:position] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif raw:
            del raw[position:position + int(rng.integers(1, 16))]
    if rng.random() < 0.3 and raw:
        raw = raw[: int(rng.integers(1, len(raw) + 1))]
    return bytes(raw)


def main(seconds):
    seeds = [data for data, _ in corpus().values() if data]
    rng = np.random.default_rng(int(time.time()))
    folder = Path(tempfile.mkdtemp(prefix="xlcnn-fuzz-"))
    deadline, tried = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        if rng.random() < 0.15:
            data = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        else:
            data = mutate(seeds[rng.integers(0, len(seeds))], rng)
        path = folder / f"input{SUFFIXES[rng.integers(0, len(SUFFIXES))]}"
        path.write_bytes(data)
        tried += 1
        try:
            load_image(path, size=16)
        except XlcnnError:
            pass
        except Exception:  # noqa: BLE001 - exactly what the fuzzer is looking for
            keep = folder / f"crash-{tried}{path.suffix}"
            path.rename(keep)
            traceback.print_exc()
            print(f"CRASH after {tried} inputs; input kept in {keep}")
            return 1
    print(f"no crash: {tried} inputs in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 180))
