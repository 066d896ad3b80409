"""The latent space over training in the browser: a plane of the recorded codes and the decoded grid at
one epoch, a slider over epochs and play/pause (``static/trajectory.js``), from a recorded
:class:`vae_mnist.measures.trajectory.Trajectory`."""
from __future__ import annotations

import base64
import json

import numpy as np

from ..figures.style import pad_range
from ..measures.trajectory import GRID_LEVELS
from .explorer import STYLE, ExplorerHTML, library_js as explorer_js, print_note, script_tag, to_base64


def png_data_uri(img: np.ndarray, levels: int = GRID_LEVELS) -> str:
    """An 8-bit grey image as a greyscale PNG data URI, quantised to ``levels`` grey levels (smaller files)."""
    import struct
    import zlib

    q = np.rint(np.rint(np.asarray(img, dtype=np.float64) / 255 * (levels - 1)) * 255 / (levels - 1)).astype(np.uint8)
    h, w = q.shape
    raw = b"".join(b"\x00" + q[r].tobytes() for r in range(h))  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def library_js() -> str:
    from importlib import resources

    return resources.files("vae_mnist.widgets").joinpath("static", "trajectory.js").read_text(encoding="utf-8")


def trajectory_widget(traj, element_id: str = "vae-trajectory", size: int = 320) -> ExplorerHTML:
    """A plane of the recorded codes and the decoded grid at one epoch; a slider over epochs, play/pause."""
    R = pad_range(traj.codes.reshape(-1, 2))
    payload = {"name": element_id, "run": traj.run, "epochs": traj.epochs, "n": int(traj.codes.shape[1]),
               "codes": [to_base64(c.astype("<f2")) for c in traj.codes], "labels": to_base64(traj.labels.astype(np.uint8)),
               "grids": [png_data_uri(g) for g in traj.grids], "kl": [round(float(v), 3) for v in traj.kl()],
               "separation": [round(float(v), 4) for v in traj.separation()], "range": R}
    pid = element_id
    body = f"""<div class="vae-explorer vae-trajectory" id="{pid}">
<div><canvas class="vae-trajectory-plane" width="{size}" height="{size}" role="img"
 aria-label="test-set codes at the chosen epoch"></canvas></div>
<div><canvas class="vae-trajectory-grid" width="{traj.grids.shape[1]}" height="{traj.grids.shape[2]}" role="img"
 aria-label="decoded grid at the chosen epoch" style="width:{size}px; height:{size}px; border:1px solid #bbb"></canvas></div>
<div style="flex-basis:100%"><label for="{pid}-epoch">epoch</label>
<input type="range" class="vae-trajectory-slider" id="{pid}-epoch" min="0" max="{traj.epochs}" step="1"
 value="{traj.epochs}" style="width:18em; vertical-align:middle">
<button type="button" class="vae-trajectory-play">play</button>
<span class="vae-explorer-z vae-trajectory-readout" aria-live="polite"></span></div>
</div>"""
    parts = [STYLE, script_tag(explorer_js()), script_tag(library_js()), print_note(body, pid),
             script_tag(f"window.vaeExplorer.mountTrajectory({json.dumps(pid)}, "
                     + json.dumps(payload, separators=(",", ":")) + ");")]
    return ExplorerHTML("\n".join(parts), payload)
