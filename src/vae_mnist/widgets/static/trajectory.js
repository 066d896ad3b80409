/* The latent space forming over training (vae-mnist book): recorded codes and decoded grids per epoch.
 *
 * Extends window.vaeExplorer (explorer.js, loaded first) with
 *   mountTrajectory(id, payload)   payload from vae_mnist.trajectory.trajectory_widget;
 *                                  instances[id]: {epoch, updates, setEpoch(e), play(), pause(), playing}
 */
(function () {
  "use strict";
  var api = window.vaeExplorer;
  if (!api || api.mountTrajectory) { return; }

  function halves(b64) {
    var s = atob(b64), n = s.length / 2, out = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var h = s.charCodeAt(2 * i) | (s.charCodeAt(2 * i + 1) << 8);
      var sign = (h & 0x8000) ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
      out[i] = exp === 0 ? sign * frac * Math.pow(2, -24) :
        (exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1024 + frac) * Math.pow(2, exp - 25));
    }
    return out;
  }

  api.mountTrajectory = function (id, p) {
    var root = document.getElementById(id), plane = root.querySelector(".vae-trajectory-plane");
    var grid = root.querySelector(".vae-trajectory-grid"), slider = root.querySelector(".vae-trajectory-slider");
    var button = root.querySelector(".vae-trajectory-play"), readout = root.querySelector(".vae-trajectory-readout");
    var s = atob(p.labels), labels = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { labels[i] = s.charCodeAt(i); }
    var frames = p.codes.map(function (c) { return { n: p.n, points: halves(c), labels: labels }; });
    var ctx = plane.getContext("2d"), gctx = grid.getContext("2d"), images = [], timer = null;
    function drawGrid(e) {  /* the decoded grid (a PNG per epoch) on its canvas */
      gctx.drawImage(images[e], 0, 0, grid.width, grid.height);
      inst.gridEpoch = e;
    }
    var inst = { id: id, epoch: null, gridEpoch: null, updates: 0, root: root, playing: false, trajectory: true,
                 epochs: p.epochs };

    inst.setEpoch = function (e) {
      e = Math.max(0, Math.min(p.epochs, Math.round(e)));
      inst.epoch = e;
      if (String(slider.value) !== String(e)) { slider.value = String(e); }
      ctx.drawImage(api.planeBackground(plane.width, plane.height, p.range, frames[e]), 0, 0);
      var img = images[e];
      if (!img) {
        img = images[e] = new Image();
        img.onload = function () { if (inst.epoch === e) { drawGrid(e); } };
        img.src = p.grids[e];
      }
      if (img.complete && img.naturalWidth > 0) { drawGrid(e); }
      readout.textContent = "epoch " + e + (e === 0 ? " (before training)" : "") + ": KL " + p.kl[e].toFixed(2) +
        " nats, 5-NN accuracy " + (100 * p.separation[e]).toFixed(1) + " %";
      inst.updates += 1;
    };
    inst.pause = function () {
      if (timer) { window.clearInterval(timer); timer = null; }
      inst.playing = false; button.textContent = "play";
    };
    inst.play = function () {
      if (timer) { return; }
      if (inst.epoch >= p.epochs) { inst.setEpoch(0); }
      inst.playing = true; button.textContent = "pause";
      timer = window.setInterval(function () {
        if (inst.epoch >= p.epochs) { inst.pause(); } else { inst.setEpoch(inst.epoch + 1); }
      }, 400);
    };
    slider.addEventListener("input", function () { inst.pause(); inst.setEpoch(parseInt(slider.value, 10)); });
    button.addEventListener("click", function () { if (inst.playing) { inst.pause(); } else { inst.play(); } });
    api.instances[id] = inst;
    inst.setEpoch(p.epochs);
    return inst;
  };
})();
