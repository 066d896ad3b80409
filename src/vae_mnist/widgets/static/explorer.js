/* Latent-space explorer of the vae-mnist book: the VAE's decoder, run in the browser.
 *
 * Plain JavaScript, no library, no network: the weights arrive inline in the page
 * (base64, written by vae_mnist.explorer), so the book works from a static host or
 * from disk (file://). The decoder is the paper's:
 *     z -> Dense(hidden) ReLU -> Dense(784) -> sigmoid  (pixel means in [0, 1]).
 *
 * API (window.vaeExplorer):
 *   register(payload)         add a model (payload from vae_mnist.explorer.export_decoder)
 *   decode(name, z)           -> Float32Array(784) of pixel means for the latent vector z
 *   mountPad(id, name, opts)  a 2-D pad over the test-set latent means (2-D models)
 *   mountSliders(id, name, opts)  one slider per latent dimension
 *   models[name], instances[id]  (instance: {model, z, pixels, setZ(z)})
 */
(function () {
  "use strict";
  if (window.vaeExplorer) { return; }

  var TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function bytesOf(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }

  function float32s(b64) {
    var b = bytesOf(b64);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }

  function halfToFloat(h) {
    var sign = (h & 0x8000) ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp === 0) { return sign * frac * Math.pow(2, -24); }
    if (exp === 31) { return frac ? NaN : sign * Infinity; }
    return sign * (1024 + frac) * Math.pow(2, exp - 25);
  }

  /* One weight matrix (row-major, rows = inputs) in one of the export formats. */
  function matrix(m) {
    var n = m.shape[0] * m.shape[1], out = new Float32Array(n), b = bytesOf(m.data), i;
    if (m.format === "float32") {
      out.set(new Float32Array(b.buffer, b.byteOffset, n));
    } else if (m.format === "float16") {
      for (i = 0; i < n; i++) { out[i] = halfToFloat(b[2 * i] | (b[2 * i + 1] << 8)); }
    } else if (m.format === "q24") {
      /* 24-bit signed integers, little-endian, times one float32 scale per row */
      var scale = float32s(m.scale), cols = m.shape[1];
      for (i = 0; i < n; i++) {
        var v = b[3 * i] | (b[3 * i + 1] << 8) | (b[3 * i + 2] << 16);
        if (v & 0x800000) { v -= 0x1000000; }
        out[i] = v * scale[(i / cols) | 0];
      }
    } else {
      throw new Error("vaeExplorer: unknown weight format " + m.format);
    }
    return out;
  }

  var api = { version: 1, models: {}, instances: {} };

  api.register = function (p) {
    if (api.models[p.name]) { return api.models[p.name]; }
    var layers = api.denseLayers(p.layers);
    var model = { name: p.name, run: p.run, latentDim: p.latent_dim, format: p.format, layers: layers,
                  scatter: null, meta: p };
    if (p.scatter) {
      var s = p.scatter, xy = bytesOf(s.points), lab = bytesOf(s.labels), pts = new Float32Array(2 * s.n);
      for (var i = 0; i < 2 * s.n; i++) { pts[i] = halfToFloat(xy[2 * i] | (xy[2 * i + 1] << 8)); }
      model.scatter = { n: s.n, points: pts, labels: lab, names: s.class_names };
    }
    api.models[p.name] = model;
    return model;
  };

  /* A payload's layers (vae_mnist.explorer.dense_layers) as matrices the browser multiplies with. */
  api.denseLayers = function (layers) {
    return layers.map(function (l) {
      return { rows: l.kernel.shape[0], cols: l.kernel.shape[1], W: matrix(l.kernel), b: float32s(l.bias) };
    });
  };

  /* x -> Dense -> ReLU -> ... -> Dense (linear output), in double precision; zero inputs skipped. */
  api.forward = function (L, input) {
    var x = Float64Array.from(input);
    for (var l = 0; l < L.length; l++) {
      var layer = L[l], cols = layer.cols, W = layer.W, y = new Float64Array(cols), j, k;
      for (k = 0; k < cols; k++) { y[k] = layer.b[k]; }
      for (j = 0; j < layer.rows; j++) {
        var xj = x[j];
        if (xj === 0) { continue; }
        var off = j * cols;
        for (k = 0; k < cols; k++) { y[k] += xj * W[off + k]; }
      }
      if (l < L.length - 1) { for (k = 0; k < cols; k++) { if (y[k] < 0) { y[k] = 0; } } }
      x = y;
    }
    return x;
  };

  /* z -> ReLU(z W1 + b1) -> W2 + b2 -> sigmoid, in double precision. */
  api.decode = function (name, z) {
    var model = api.models[name];
    if (!model) { throw new Error("vaeExplorer: no model named " + name); }
    if (z.length !== model.latentDim) {
      throw new Error("vaeExplorer: " + name + " needs " + model.latentDim + " latent values, got " + z.length);
    }
    var x = api.forward(model.layers, z), out = new Float32Array(x.length);
    for (var i = 0; i < x.length; i++) { out[i] = 1 / (1 + Math.exp(-x[i])); }
    return out;
  };

  /* Draw 28x28 pixel means on a 28x28 canvas (white ink on black, like the book's figures). */
  api.draw = function (canvas, pixels) {
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    for (var i = 0; i < 784; i++) {
      var v = Math.round(255 * pixels[i]);
      img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  };

  /* An offscreen canvas W x H showing [-R, R]^2: grid lines, axes and the test-set latent means. */
  api.planeToCanvas = function (W, H, R) {
    return function (z) { return [(z[0] + R) / (2 * R) * W, (R - z[1]) / (2 * R) * H]; };
  };
  api.planeBackground = function (W, H, R, scatter) {
    var toCanvas = api.planeToCanvas(W, H, R);
    var bg = document.createElement("canvas"); bg.width = W; bg.height = H;
    var g = bg.getContext("2d");
    g.fillStyle = "#ffffff"; g.fillRect(0, 0, W, H);
    g.lineWidth = 1;
    for (var t = Math.ceil(-R); t <= Math.floor(R); t++) {
      var p = toCanvas([t, t]);
      g.strokeStyle = t === 0 ? "#888888" : "#e4e4e4";
      g.beginPath(); g.moveTo(p[0], 0); g.lineTo(p[0], H); g.stroke();
      g.beginPath(); g.moveTo(0, p[1]); g.lineTo(W, p[1]); g.stroke();
      if (t !== 0) {
        g.fillStyle = "#777777"; g.font = "10px sans-serif";
        g.fillText(String(t), p[0] + 2, toCanvas([0, 0])[1] - 2);
        g.fillText(String(t), toCanvas([0, 0])[0] + 2, p[1] - 2);
      }
    }
    if (scatter) {
      var s = scatter;
      g.globalAlpha = 0.55;
      for (var i = 0; i < s.n; i++) {
        var q = toCanvas([s.points[2 * i], s.points[2 * i + 1]]);
        g.fillStyle = TAB10[s.labels[i] % 10];
        g.fillRect(q[0] - 1, q[1] - 1, 2, 2);
      }
      g.globalAlpha = 1;
    }
    return bg;
  };

  function fmt(v) { return (v >= 0 ? "\u2007" : "\u2212") + Math.abs(v).toFixed(2); }

  function newInstance(id, name, root) {
    var inst = { id: id, model: name, z: null, pixels: null, updates: 0, root: root };
    /* the print-only line under the widget links to this page (vae_mnist.pdf: to the published book) */
    var link = root.querySelector("a.vae-explorer-html-link");
    if (link && window.location.protocol !== "file:") {
      link.href = window.location.href.split("#")[0] + "#" + id;
      link.textContent = link.href;
    }
    inst.digit = root.querySelector(".vae-explorer-digit");
    inst.readout = root.querySelector(".vae-explorer-z");
    inst.show = function () {
      inst.pixels = api.decode(name, inst.z);
      api.draw(inst.digit, inst.pixels);
      inst.updates += 1;
    };
    api.instances[id] = inst;
    return inst;
  }

  api.mountPad = function (id, name, opts) {
    var model = api.models[name], root = document.getElementById(id);
    var R = opts.range, pad = root.querySelector(".vae-explorer-pad"), ctx = pad.getContext("2d");
    var W = pad.width, H = pad.height, inst = newInstance(id, name, root);
    inst.range = R;
    inst.toCanvas = api.planeToCanvas(W, H, R);
    inst.fromCanvas = function (px, py) { return [-R + 2 * R * px / W, R - 2 * R * py / H]; };

    /* background: grid lines, axes and the test-set latent means, drawn once */
    var bg = api.planeBackground(W, H, R, model.scatter);

    function render() {
      ctx.drawImage(bg, 0, 0);
      var c = inst.toCanvas(inst.z);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffffff"; ctx.beginPath(); ctx.arc(c[0], c[1], 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.strokeStyle = "#000000"; ctx.beginPath(); ctx.arc(c[0], c[1], 5, 0, 2 * Math.PI); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(c[0] - 10, c[1]); ctx.lineTo(c[0] + 10, c[1]);
      ctx.moveTo(c[0], c[1] - 10); ctx.lineTo(c[0], c[1] + 10); ctx.stroke();
    }

    inst.setZ = function (z) {
      inst.z = [Math.max(-R, Math.min(R, z[0])), Math.max(-R, Math.min(R, z[1]))];
      inst.show();
      render();
      inst.readout.textContent = "z = (" + fmt(inst.z[0]) + ", " + fmt(inst.z[1]) + ")";
    };

    function fromEvent(ev) {
      var r = pad.getBoundingClientRect();
      return inst.fromCanvas((ev.clientX - r.left) * W / r.width, (ev.clientY - r.top) * H / r.height);
    }
    pad.addEventListener("pointermove", function (ev) { inst.setZ(fromEvent(ev)); });
    pad.addEventListener("pointerdown", function (ev) {
      inst.setZ(fromEvent(ev));
      if (pad.setPointerCapture) { try { pad.setPointerCapture(ev.pointerId); } catch (e) { /* ignore */ } }
    });
    pad.addEventListener("keydown", function (ev) {
      var step = ev.shiftKey ? 0.5 : 0.1, z = inst.z.slice();
      if (ev.key === "ArrowLeft") { z[0] -= step; } else if (ev.key === "ArrowRight") { z[0] += step; }
      else if (ev.key === "ArrowUp") { z[1] += step; } else if (ev.key === "ArrowDown") { z[1] -= step; }
      else if (ev.key === "0" || ev.key === "Home") { z = [0, 0]; } else { return; }
      ev.preventDefault();
      inst.setZ(z);
    });
    inst.setZ(opts.start || [0, 0]);
    return inst;
  };

  api.mountSliders = function (id, name, opts) {
    var model = api.models[name], root = document.getElementById(id), inst = newInstance(id, name, root);
    var sliders = Array.prototype.slice.call(root.querySelectorAll("input.vae-explorer-slider"));
    var values = Array.prototype.slice.call(root.querySelectorAll(".vae-explorer-value"));
    inst.sliders = sliders;
    inst.setZ = function (z) {
      inst.z = z.map(function (v) { return Math.max(-opts.range, Math.min(opts.range, v)); });
      for (var i = 0; i < sliders.length; i++) {
        if (parseFloat(sliders[i].value) !== inst.z[i]) { sliders[i].value = String(inst.z[i]); }
        inst.z[i] = parseFloat(sliders[i].value);  /* the slider's own rounding to its step */
        values[i].textContent = fmt(inst.z[i]);
      }
      inst.show();
      inst.readout.textContent = "decoded from " + model.latentDim + " latent values";
    };
    sliders.forEach(function (s) {
      s.addEventListener("input", function () {
        inst.setZ(sliders.map(function (t) { return parseFloat(t.value); }));
      });
    });
    var reset = root.querySelector(".vae-explorer-reset"), rnd = root.querySelector(".vae-explorer-random");
    if (reset) { reset.addEventListener("click", function () { inst.setZ(sliders.map(function () { return 0; })); }); }
    if (rnd) {
      rnd.addEventListener("click", function () {
        inst.setZ(sliders.map(function () {  /* Box-Muller: z ~ N(0, 1) */
          var u = 1 - Math.random(), v = Math.random();
          return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
        }));
      });
    }
    inst.setZ(sliders.map(function () { return 0; }));
    return inst;
  };

  api.fmt = fmt;
  api.newInstance = newInstance;
  window.vaeExplorer = api;
})();
