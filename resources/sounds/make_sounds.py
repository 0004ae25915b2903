"""Writes alert.wav and critical.wav beside this file (run once; the WAV files are committed).

alert: two soft beeps. critical: a falling two-tone figure played three times, harder to ignore.
16-bit mono PCM at 22.05 kHz, with short fades so no tone starts or ends with a click.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22_050
FADE = 0.01  # seconds of fade in and out of every tone


def tone(freq: float, seconds: float, volume: float) -> list[float]:
    count = round(RATE * seconds)
    fade = round(RATE * FADE)
    samples = []
    for i in range(count):
        envelope = min(1.0, i / fade, (count - 1 - i) / fade)
        samples.append(volume * envelope * math.sin(2 * math.pi * freq * i / RATE))
    return samples


def silence(seconds: float) -> list[float]:
    return [0.0] * round(RATE * seconds)


def write(path: Path, samples: list[float]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(struct.pack("<h", round(s * 32767)) for s in samples))


def main() -> None:
    here = Path(__file__).resolve().parent
    alert = tone(880, 0.12, 0.5) + silence(0.08) + tone(880, 0.12, 0.5)
    figure = tone(988, 0.14, 0.7) + tone(740, 0.14, 0.7) + silence(0.06)
    write(here / "alert.wav", alert)
    write(here / "critical.wav", figure * 3)


if __name__ == "__main__":
    main()
