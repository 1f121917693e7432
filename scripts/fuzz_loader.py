"""Fuzz the photo loader: random bytes and mutated real images must only ever raise XlcnnError.

    python scripts/fuzz_loader.py [SECONDS]      # default 180

Uses hypothesis when installed (pip install hypothesis), driving it for the given time,
and prints how many inputs were tried and any unexpected exception.
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from corpus import corpus  # noqa: E402
from xlcnn.errors import XlcnnError  # noqa: E402
from xlcnn.image import load_image  # noqa: E402

SEEDS = [data for data, _ in corpus().values() if data]
FOLDER = Path(tempfile.mkdtemp(prefix="xlcnn-fuzz-"))
tried = 0


def mutate(data, flips, cut):
    data = bytearray(data[:max(1, cut)] if cut else data)
    for position, value in flips:
        data[position % len(data)] = value
    return bytes(data)


def check(data, suffix):
    global tried
    tried += 1
    path = FOLDER / f"input{suffix}"
    path.write_bytes(data)
    try:
        load_image(path, size=16)
    except XlcnnError:
        pass


@settings(max_examples=10**9, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(range(len(SEEDS))), st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), max_size=12),
       st.integers(0, 5000), st.sampled_from([".jpg", ".png", ".gif", ".bmp", ".tif", ".webp", ""]),
       st.binary(max_size=256), st.booleans())
def fuzz(seed, flips, cut, suffix, noise, raw):
    if time.monotonic() > DEADLINE:
        return
    check(noise if raw else mutate(SEEDS[seed], flips, cut), suffix)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 180
    DEADLINE = time.monotonic() + seconds
    started = time.monotonic()
    try:
        fuzz()
    except Exception as exc:   # hypothesis re-raises the first failure with its minimal example
        print(f"FAILURE after {tried} inputs: {type(exc).__name__}: {exc}")
        raise
    print(f"no crash: {tried} inputs in {time.monotonic() - started:.0f} s")
