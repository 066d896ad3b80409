/* Draw a digit, see its posterior: the VAE's encoder, run in the browser (vae-mnist book).
 *
 * Extends window.vaeExplorer (explorer.js, loaded first) with the encoder
 *     x -> Dense(hidden) ReLU -> Dense(2 z)  (mean, log-variance of q(z|x))
 * from weights exported by vae_mnist.drawpad in the decoder's formats, and a drawing pad.
 *
 * API (window.vaeExplorer):
 *   registerEncoder(payload)        add an encoder (payload from vae_mnist.drawpad.export_encoder)
 *   encode(name, x)                 -> {mean: [...], sigma: [...]} for 784 pixel values x
 *   mnistForm(ink, w, h, opts)      a w x h drawing -> 784 values in MNIST's form (vae_mnist.drawpad.mnist_form)
 *   mountDrawPad(id, name, opts)    the widget; instances[id]: {mean, sigma, seen, updates, paint(pixels), clear()}
 */
(function () {
  "use strict";
  var api = window.vaeExplorer;
  if (!api || api.registerEncoder) { return; }
  api.encoders = {};

  api.registerEncoder = function (p) {
    if (api.encoders[p.name]) { return api.encoders[p.name]; }
    var enc = { name: p.name, run: p.run, latentDim: p.latent_dim, format: p.format,
                layers: api.denseLayers(p.layers), meta: p };
    api.encoders[p.name] = enc;
    return enc;
  };

  api.encode = function (name, x) {
    var enc = api.encoders[name];
    if (!enc) { throw new Error("vaeExplorer: no encoder named " + name); }
    if (x.length !== enc.layers[0].rows) {
      throw new Error("vaeExplorer: encoder " + name + " needs " + enc.layers[0].rows + " pixels, got " + x.length);
    }
    var out = api.forward(enc.layers, x), d = enc.latentDim, mean = [], sigma = [];
    for (var i = 0; i < d; i++) { mean.push(out[i]); sigma.push(Math.exp(0.5 * out[d + i])); }
    return { mean: mean, sigma: sigma };
  };

  /* Area-averaging resampling weights: output pixel o covers input [o r, (o + 1) r), r = nIn / nOut. */
  function areaMatrix(nIn, nOut) {
    var r = nIn / nOut, a = [];
    for (var o = 0; o < nOut; o++) {
      var lo = o * r, hi = (o + 1) * r, row = [];
      for (var k = Math.floor(lo); k < Math.min(nIn, Math.ceil(hi)); k++) {
        var w = Math.max(0, Math.min(hi, k + 1) - Math.max(lo, k)) / r;
        if (w > 0) { row.push([k, w]); }
      }
      a.push(row);
    }
    return a;
  }

  /* MNIST's form: the ink's bounding box scaled (area averaging, aspect kept) to a longer side of
     o.box pixels, placed in an o.side x o.side frame with its centre of mass at (o.centre, o.centre). */
  api.mnistForm = function (ink, W, H, o) {
    var side = o.side, out = new Float64Array(side * side), x, y;
    var top = H, bottom = -1, left = W, right = -1;
    for (y = 0; y < H; y++) {
      for (x = 0; x < W; x++) {
        if (ink[y * W + x] > 0) {
          if (y < top) { top = y; } if (y > bottom) { bottom = y; }
          if (x < left) { left = x; } if (x > right) { right = x; }
        }
      }
    }
    if (bottom < 0) { return out; }
    var h = bottom - top + 1, w = right - left + 1, scale = o.box / Math.max(h, w);
    var oh = Math.max(1, Math.round(h * scale)), ow = Math.max(1, Math.round(w * scale));
    var ay = areaMatrix(h, oh), ax = areaMatrix(w, ow);
    /* rows first: tmp[oy][x] = sum_k ay[oy][k] ink[top + k][left + x] */
    var tmp = new Float64Array(oh * w), box = new Float64Array(oh * ow), i, j, t;
    for (i = 0; i < oh; i++) {
      for (t = 0; t < ay[i].length; t++) {
        var k = ay[i][t][0], wy = ay[i][t][1], src = (top + k) * W + left;
        for (x = 0; x < w; x++) { tmp[i * w + x] += wy * ink[src + x]; }
      }
    }
    var mass = 0, my = 0, mx = 0;
    for (i = 0; i < oh; i++) {
      for (j = 0; j < ow; j++) {
        var v = 0;
        for (t = 0; t < ax[j].length; t++) { v += ax[j][t][1] * tmp[i * w + ax[j][t][0]]; }
        box[i * ow + j] = v; mass += v; my += v * i; mx += v * j;
      }
    }
    var oy = Math.min(side - oh, Math.max(0, Math.floor(o.centre - my / mass + 0.5)));
    var ox = Math.min(side - ow, Math.max(0, Math.floor(o.centre - mx / mass + 0.5)));
    for (i = 0; i < oh; i++) {
      for (j = 0; j < ow; j++) { out[(oy + i) * side + ox + j] = Math.min(1, Math.max(0, box[i * ow + j])); }
    }
    return out;
  };

  /* A seeded generator of N(0, 1) draws (mulberry32 + Box-Muller): the same samples for the same seed. */
  function normals(seed) {
    var s = seed >>> 0;
    function uniform() {
      s = (s + 0x6D2B79F5) >>> 0;
      var t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    return function () {
      var u = 1 - uniform(), v = uniform();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
  }

  function bytesOf(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }

  api.mountDrawPad = function (id, name, opts) {
    var root = document.getElementById(id), enc = api.encoders[name], d = enc.latentDim;
    var ink = root.querySelector(".vae-drawpad-ink"), ictx = ink.getContext("2d"), P = ink.width;
    var seen = root.querySelector(".vae-drawpad-seen"), meanCanvas = root.querySelector(".vae-drawpad-mean");
    var sampleCanvases = Array.prototype.slice.call(root.querySelectorAll(".vae-drawpad-sample"));
    var readout = root.querySelector(".vae-drawpad-readout");
    var plane = root.querySelector(".vae-drawpad-plane"), coords = root.querySelector(".vae-drawpad-coords");
    var inst = { id: id, model: name, mean: null, sigma: null, seen: null, samples: [], updates: 0, root: root,
                 range: undefined, drawpad: true };
    var draw = normals(opts.seed || 0), eps = [];
    function newEps() {
      eps = [];
      for (var k = 0; k < opts.samples; k++) { var e = []; for (var i = 0; i < d; i++) { e.push(draw()); } eps.push(e); }
    }
    newEps();

    var bg = null, R = opts.range;
    if (plane) {
      var model = api.models[name];
      bg = api.planeBackground(plane.width, plane.height, R, model && model.scatter);
    }

    function renderPlane() {
      var c = plane.getContext("2d"), W = plane.width, H = plane.height, to = api.planeToCanvas(W, H, R);
      c.drawImage(bg, 0, 0);
      if (!inst.mean) { return; }
      var m = to(inst.mean), sx = W / (2 * R), sy = H / (2 * R);
      [[2, "rgba(0,0,0,0.55)", 1.5], [1, "#000000", 2.5]].forEach(function (e) {
        c.strokeStyle = e[1]; c.lineWidth = e[2]; c.beginPath();
        c.ellipse(m[0], m[1], Math.max(0.5, e[0] * inst.sigma[0] * sx), Math.max(0.5, e[0] * inst.sigma[1] * sy),
                  0, 0, 2 * Math.PI);
        c.stroke();
      });
      c.fillStyle = "#000000";
      inst.samples.forEach(function (z) { var q = to(z); c.beginPath(); c.arc(q[0], q[1], 2.5, 0, 2 * Math.PI); c.fill(); });
      c.lineWidth = 2; c.strokeStyle = "#d00000"; c.beginPath();
      c.moveTo(m[0] - 8, m[1]); c.lineTo(m[0] + 8, m[1]); c.moveTo(m[0], m[1] - 8); c.lineTo(m[0], m[1] + 8); c.stroke();
    }

    function renderCoords() {
      var c = coords.getContext("2d"), W = coords.width, H = coords.height, left = 34, right = 8, row = 14, top = 18;
      var X = function (v) { return left + (Math.max(-R, Math.min(R, v)) + R) / (2 * R) * (W - left - right); };
      c.fillStyle = "#ffffff"; c.fillRect(0, 0, W, H);
      c.fillStyle = "#eeeeee"; c.fillRect(X(-2), top - 4, X(2) - X(-2), d * row);
      c.fillStyle = "#d4d4d4"; c.fillRect(X(-1), top - 4, X(1) - X(-1), d * row);
      c.strokeStyle = "#888888"; c.lineWidth = 1; c.beginPath(); c.moveTo(X(0), top - 4); c.lineTo(X(0), top - 4 + d * row); c.stroke();
      c.fillStyle = "#333333"; c.font = "10px sans-serif";
      for (var t = -Math.floor(R); t <= Math.floor(R); t++) { c.fillText(String(t), X(t) - 3, 11); }
      for (var i = 0; i < d; i++) {
        var y = top + i * row + 3;
        c.fillStyle = "#333333"; c.fillText("z" + (i + 1), 4, y + 4);
        if (!inst.mean) { continue; }
        var m = inst.mean[i], s = inst.sigma[i];
        c.strokeStyle = "#1f77b4"; c.lineWidth = 1; c.beginPath(); c.moveTo(X(m - 2 * s), y); c.lineTo(X(m + 2 * s), y); c.stroke();
        c.lineWidth = 4; c.beginPath(); c.moveTo(X(m - s), y); c.lineTo(X(m + s), y); c.stroke();
        c.fillStyle = "#d00000"; c.beginPath(); c.arc(X(m), y, 3, 0, 2 * Math.PI); c.fill();
      }
    }

    inst.update = function () {
      var data = ictx.getImageData(0, 0, P, P).data, v = new Float64Array(P * P);
      for (var i = 0; i < P * P; i++) { v[i] = data[4 * i] / 255; }
      inst.seen = api.mnistForm(v, P, P, opts);
      api.draw(seen, inst.seen);
      var total = 0;
      for (i = 0; i < inst.seen.length; i++) { total += inst.seen[i]; }
      if (total === 0) {
        inst.mean = inst.sigma = null; inst.samples = [];
        api.draw(meanCanvas, new Float32Array(784));
        sampleCanvases.forEach(function (cv) { api.draw(cv, new Float32Array(784)); });
        readout.textContent = "draw a digit on the black pad";
      } else {
        var post = api.encode(name, inst.seen);
        inst.mean = post.mean; inst.sigma = post.sigma;
        inst.samples = eps.map(function (e) { return e.map(function (v, j) { return inst.mean[j] + inst.sigma[j] * v; }); });
        if (api.models[name]) {
          api.draw(meanCanvas, api.decode(name, inst.mean));
          inst.samples.forEach(function (z, k) { api.draw(sampleCanvases[k], api.decode(name, z)); });
        }
        readout.textContent = d === 2 ?
          "mean (" + api.fmt(inst.mean[0]) + ", " + api.fmt(inst.mean[1]) + "), \u03c3 (" +
            inst.sigma[0].toFixed(3) + ", " + inst.sigma[1].toFixed(3) + ")" :
          "mean |\u03bc| = " + Math.sqrt(inst.mean.reduce(function (a, m) { return a + m * m; }, 0)).toFixed(2) +
            ", \u03c3 from " + Math.min.apply(null, inst.sigma).toFixed(3) + " to " + Math.max.apply(null, inst.sigma).toFixed(3);
      }
      if (plane) { renderPlane(); }
      if (coords) { renderCoords(); }
      inst.updates += 1;
    };

    inst.clear = function () { ictx.fillStyle = "#000000"; ictx.fillRect(0, 0, P, P); inst.update(); };

    /* 784 grey values (an MNIST image), painted on the pad as blocks of P / 28 pixels */
    inst.paint = function (pixels) {
      var img = ictx.createImageData(P, P), b = P / 28;
      for (var y = 0; y < P; y++) {
        for (var x = 0; x < P; x++) {
          var g = Math.round(255 * pixels[Math.floor(y / b) * 28 + Math.floor(x / b)]), o = 4 * (y * P + x);
          img.data[o] = g; img.data[o + 1] = g; img.data[o + 2] = g; img.data[o + 3] = 255;
        }
      }
      ictx.putImageData(img, 0, 0);
      inst.update();
    };

    /* strokes: mouse, touch and pen (pointer events), white ink like MNIST's */
    var drawing = false, last = null, pending = false;
    function at(ev) {
      var r = ink.getBoundingClientRect();
      return [(ev.clientX - r.left) * P / r.width, (ev.clientY - r.top) * P / r.height];
    }
    function schedule() {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; inst.update(); });
    }
    function stroke(p) {
      ictx.strokeStyle = "#ffffff"; ictx.fillStyle = "#ffffff";
      ictx.lineWidth = opts.brush; ictx.lineCap = "round"; ictx.lineJoin = "round";
      ictx.beginPath();
      if (last) { ictx.moveTo(last[0], last[1]); ictx.lineTo(p[0], p[1]); ictx.stroke(); }
      else { ictx.arc(p[0], p[1], opts.brush / 2, 0, 2 * Math.PI); ictx.fill(); }
      last = p;
      schedule();
    }
    ink.addEventListener("pointerdown", function (ev) {
      drawing = true; last = null; stroke(at(ev)); ev.preventDefault();
      if (ink.setPointerCapture) { try { ink.setPointerCapture(ev.pointerId); } catch (e) { /* ignore */ } }
    });
    ink.addEventListener("pointermove", function (ev) { if (drawing) { stroke(at(ev)); } });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      ink.addEventListener(t, function () { if (drawing) { drawing = false; last = null; inst.update(); } });
    });
    /* the keyboard's pen: Space (or Enter) puts it down or lifts it, the arrow keys move it by one MNIST
       pixel (with Shift, four), Delete or Backspace clears the pad */
    var kp = [P / 2, P / 2], penDown = false, cell = P / 28;
    ink.setAttribute("tabindex", "0");
    ink.addEventListener("keydown", function (ev) {
      var move = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]}[ev.key];
      if (ev.key === " " || ev.key === "Enter") {
        penDown = !penDown; last = null;
        if (penDown) { stroke(kp.slice()); } else { inst.update(); }
      } else if (ev.key === "Delete" || ev.key === "Backspace") {
        inst.clear();
      } else if (move) {
        var s = ev.shiftKey ? 4 * cell : cell;
        kp = [Math.min(P - 1, Math.max(0, kp[0] + move[0] * s)), Math.min(P - 1, Math.max(0, kp[1] + move[1] * s))];
        if (penDown) { stroke(kp.slice()); }
      } else {
        return;
      }
      inst.pen = {x: kp[0], y: kp[1], down: penDown};
      ev.preventDefault();
    });
    ink.addEventListener("blur", function () { if (penDown) { penDown = false; last = null; inst.update(); } });
    root.querySelector(".vae-drawpad-clear").addEventListener("click", inst.clear);
    root.querySelector(".vae-drawpad-resample").addEventListener("click", function () { newEps(); inst.update(); });

    api.instances[id] = inst;
    ictx.fillStyle = "#000000"; ictx.fillRect(0, 0, P, P);
    if (opts.start) {
      var b = bytesOf(opts.start), px = new Float64Array(784);
      for (var i = 0; i < 784; i++) { px[i] = b[i] / 255; }
      inst.paint(px);
    } else {
      inst.update();
    }
    return inst;
  };
})();
