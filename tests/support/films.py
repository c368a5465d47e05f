"""Films of fixed lavfi scenes for the copy-detection tests (tests/catalog/test_copy_signals.py, tests/e2e/
test_copy_detection.py): six sets of five scenes, and `film`, which plays a list of them, SCENE_S each, over a sound.

Every colour and seed is given: unless told, gradients picks random colours (its `seed` only places them) and
cellauto a random first row, so the films, and with them the scene changes that ffmpeg finds, would differ from run
to run.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.media import run_tool

SCENES = {
    "A": ["mandelbrot=start_x=-0.743643887:start_y=0.131825904:start_scale=0.3",
          "gradients=seed=1:speed=0.02:n=4:c0=0x1f4e79:c1=0xf4b183:c2=0x70ad47:c3=0xffd966",
          "testsrc2", "mandelbrot=start_x=0.28:start_y=0.008:start_scale=0.05", "smptehdbars"],
    "B": ["mandelbrot=start_x=-1.25:start_y=0.02:start_scale=0.2",
          "gradients=seed=9:speed=0.02:n=4:c0=0x7030a0:c1=0x00b0f0:c2=0xc00000:c3=0xf2f2f2", "rgbtestsrc",
          "mandelbrot=start_x=-0.1:start_y=0.65:start_scale=0.2", "life=s=64x36:seed=3:mold=10:ratio=0.3"],
    "C": ["mandelbrot=start_x=-0.7453:start_y=0.1127:start_scale=0.01",
          "gradients=seed=4:speed=0.03:n=3:c0=0x002060:c1=0xffc000:c2=0x00b050",
          "yuvtestsrc", "mandelbrot=start_x=-0.16:start_y=1.04:start_scale=0.1", "cellauto=s=64x36:rule=30:seed=7"],
    "D": ["mandelbrot=start_x=-1.77:start_y=0:start_scale=0.05",
          "gradients=seed=21:speed=0.02:n=5:c0=0xc00000:c1=0x0070c0:c2=0x92d050:c3=0x262626:c4=0xffff00", "testsrc",
          "sierpinski=seed=5", "life=s=64x36:seed=11:mold=10:ratio=0.2"],
    "E": ["mandelbrot=start_x=-0.8:start_y=0.156:start_scale=0.02",
          "gradients=seed=33:speed=0.01:n=2:c0=0x203864:c1=0xf8cbad",
          "mptestsrc", "sierpinski=seed=9:type=triangle", "cellauto=s=64x36:rule=110:seed=19"],
    "F": ["mandelbrot=start_x=-0.235125:start_y=0.827215:start_scale=0.01",
          "gradients=seed=55:speed=0.02:n=6:c0=0x833c0b:c1=0xbdd7ee:c2=0x375623:c3=0xff66cc:c4=0x595959:c5=0xffe699",
          "haldclutsrc=level=6", "sierpinski=seed=13", "life=s=48x27:seed=21:mold=10:ratio=0.25"],
}
SCENE_S = 3.0


def scene_filter(source: str, size: str) -> str:
    """The lavfi filter drawing `source` at `size`, 25 frames a second."""
    name, _, options = source.partition("=")
    if name in ("life", "cellauto"):  # cells of one pixel are noise to any hash: draw them big
        return f"{source}:rate=25,scale={size.replace('x', ':')}:flags=neighbor"
    native = name in ("mptestsrc", "sierpinski", "haldclutsrc")
    sized = f"{name}={options + ':' if options else ''}" + ("rate=25" if native else f"s={size}:r=25")
    return sized + (f",scale={size.replace('x', ':')}" if native else "")


def film(dest: Path, scenes: list[str], sound: Path, *, size: str = "640x360", crf: int = 24) -> Path:
    """`scenes`, SCENE_S each, over `sound` (cut to the shorter of the two), as H.264 at `crf` and AAC."""
    graph = ";".join(f"{scene_filter(s, size)},trim=duration={SCENE_S},setpts=PTS-STARTPTS,setsar=1,format=yuv420p[v{i}]"
                     for i, s in enumerate(scenes))
    graph += ";" + "".join(f"[v{i}]" for i in range(len(scenes))) + f"concat=n={len(scenes)}:v=1:a=0[v]"
    run_tool("ffmpeg", "-filter_complex", graph, "-i", sound, "-map", "[v]", "-map", "0:a", "-shortest",
             "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), "-c:a", "aac", "-b:a", "64k", dest)
    return dest
