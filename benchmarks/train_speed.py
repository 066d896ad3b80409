"""Seconds per training epoch (z=20, batch 128, the full 60,000 training images) for the
production training loop and the alternatives it was chosen over.

    python benchmarks/train_speed.py [--epochs 5] [--variants epoch-graph-xla fit ...]

Each variant runs in its own process (clean memory figures); the number reported is the
median over epochs after the first (the first one traces and compiles). Timings on a shared
2-core machine are noisy: compare the ratios within one run.

Variants:
  epoch-graph-xla  production (vae_mnist.core.training.train): one tf.function per epoch, XLA-compiled step
  epoch-graph      the same loop without XLA
  step-loop        a Python loop over batches calling a compiled (XLA) step: per-step overhead
  fit              keras Model.fit on numpy arrays, loss from an overridden compute_loss
  fit-spe          the same with steps_per_execution=64 (fewer Python round trips)
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ["epoch-graph-xla", "epoch-graph", "step-loop", "fit", "fit-spe"]


def child(variant: str, epochs: int) -> dict:
    import numpy as np

    import vae_mnist  # noqa: F401  quiet TF import
    import keras
    import tensorflow as tf

    from vae_mnist import RunConfig
    from vae_mnist.core.data import load_dataset
    from vae_mnist.core.model import build_vae
    from vae_mnist.core.training import make_epoch_function

    data = load_dataset("mnist")
    cfg = RunConfig(latent_dim=20, epochs=epochs)
    times = []
    if variant in ("epoch-graph-xla", "epoch-graph"):
        model = build_vae(20, seed=0)
        opt = keras.optimizers.Adam(1e-3)
        opt.build(model.trainable_variables)
        fn = make_epoch_function(model, opt, data.x_train, 128, 0, jit_compile=(variant == "epoch-graph-xla"))
        for e in range(epochs):
            t0 = time.perf_counter()
            loss = float(fn(e)[0])
            times.append(time.perf_counter() - t0)
    elif variant == "step-loop":
        model = build_vae(20, seed=0)
        opt = keras.optimizers.Adam(1e-3)
        variables = model.trainable_variables
        opt.build(variables)
        x = tf.constant(data.x_train)

        @tf.function(jit_compile=True)
        def step(xb):
            with tf.GradientTape() as tape:
                rec, kl = model.loss_terms(xb)
                l = tf.reduce_mean(rec + kl)
            opt.apply_gradients(zip(tape.gradient(l, variables), variables))
            return l

        for e in range(epochs):
            t0 = time.perf_counter()
            perm = np.random.default_rng(e).permutation(len(data.x_train))
            for i in range(0, len(perm), 128):
                loss = step(tf.gather(x, perm[i:i + 128]))
            loss = float(loss)
            times.append(time.perf_counter() - t0)
    else:
        from vae_mnist.core.model import VAE

        class FitVAE(VAE):
            def call(self, x, training=False):
                z_mean, z_log_var = self.encode(x)
                z = self.sample_posterior(z_mean, z_log_var)
                return self.decode_logits(z), z_mean, z_log_var

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                from vae_mnist.core import losses
                logits, m, lv = y_pred
                return keras.ops.mean(losses.bernoulli_nll(x, logits) + losses.kl_to_standard_normal(m, lv))

        keras.utils.set_random_seed(0)
        model = FitVAE(latent_dim=20, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      steps_per_execution=64 if variant == "fit-spe" else 1)

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.t0)

        hist = model.fit(data.x_train, batch_size=128, epochs=epochs, verbose=0, callbacks=[Timer()], shuffle=True)
        loss = hist.history["loss"][-1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return {"variant": variant, "epoch_seconds": times, "median_after_first": statistics.median(times[1:]),
            "final_loss": loss, "peak_rss_mib": peak}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.epochs)))
        return 0
    results = []
    for v in args.variants:
        print(f"running {v} ({args.epochs} epochs)...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--child", v, "--epochs", str(args.epochs)],
                             capture_output=True, text=True, env=os.environ)
        if out.returncode != 0:
            print(f"{v}: failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = next((r for r in results if r["variant"] == "epoch-graph-xla"), None)
    print(f"\nz=20, batch 128, 60,000 images, median s/epoch over epochs 2..{args.epochs}")
    print(f"{'variant':<16} {'s/epoch':>8} {'vs prod':>8} {'peak RSS MiB':>13}  epochs")
    for r in results:
        ratio = r["median_after_first"] / base["median_after_first"] if base else float("nan")
        print(f"{r['variant']:<16} {r['median_after_first']:>8.2f} {ratio:>8.2f} {r['peak_rss_mib']:>13.0f}  "
              + " ".join(f"{t:.2f}" for t in r["epoch_seconds"]))
    if base:
        print(f"\ntarget <= 3.5 s/epoch: {'PASS' if base['median_after_first'] <= 3.5 else 'FAIL'}; "
              f"peak memory <= 2048 MiB: {'PASS' if base['peak_rss_mib'] <= 2048 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
