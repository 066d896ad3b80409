"""Seconds for the k-sample IWAE bound (default k = 1000) on the full 10,000-image MNIST test set.

    python benchmarks/iwae_speed.py [--k 1000] [--repeats 1] [--run RUN_FOLDER] [--variants]

With ``--run`` the bound is taken on that run's own test set (binarized once, with the fixed seed,
for a ``--binarize dynamic`` run), e.g. ``--k 5000 --run <a z = 50 binarized run>`` for the cost
of the literature's bound.

The model is the z = 20 run of the run cache when it exists (the paper's 50-epoch model),
otherwise a z = 20 model trained for one epoch into a private cache (the cost of the bound does
not depend on how well the model is trained). Reported: wall-clock seconds (median over repeats),
process CPU seconds, the machine's load average (the machine is shared: a load above the number
of cores means the wall time is inflated), and the bound itself.

``--variants`` also times, on the first 1,000 test images, the plain formulation (784 logits
multiplied by x for every sample) against the production one (x projected once per image:
x . l = (W2 x) . h + x . b2), and smaller and larger chunks.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time


def _model(run_path):
    from vae_mnist import RunConfig
    from vae_mnist.store.runs import Run, get_run, list_runs
    from vae_mnist.store.entries import cache_dir

    if run_path:
        return Run(run_path)
    for run in list_runs(cache_dir()):
        c = run.config
        if (c.latent_dim, c.likelihood, c.dataset, c.test_subset) == (20, "bernoulli", "mnist", None):
            return run
    private = os.path.join(tempfile.gettempdir(), "vae-mnist-bench-runs")
    print(f"no z=20 run in {cache_dir()}; training a 1-epoch z=20 model in {private}", flush=True)
    return get_run(RunConfig(latent_dim=20, epochs=1), root=private, progress=print)


def _time(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--run", default=None, help="a run folder (default: the z=20 run of the cache)")
    p.add_argument("--images", type=int, default=None, help="only the first N test images")
    p.add_argument("--variants", action="store_true")
    args = p.parse_args(argv)

    import vae_mnist  # noqa: F401  quiet TF import
    from vae_mnist.core import iwae
    from vae_mnist.core.data import load_dataset

    run = _model(args.run)
    # the run's own test set (binarized for a binarized run), all 10,000 images whatever its test_subset
    x = load_dataset(run.config.dataset).binarized(run.config.binarize).x_test[: args.images]
    print(f"model: {run.path.name}; {len(x)} test images ({run.config.binarize} binarization), k={args.k}; "
          f"{os.cpu_count()} cores", flush=True)
    iwae.iwae_bound(run.model, x[:64], k=args.k, seed=0)  # trace and warm up
    walls, cpus = [], []
    for r in range(args.repeats):
        load0 = os.getloadavg()[0]
        res, wall, cpu = _time(lambda: iwae.iwae_bound(run.model, x, k=args.k, seed=0,
                                                             progress=lambda s: print("  " + s, flush=True)))
        walls.append(wall)
        cpus.append(cpu)
        print(f"repeat {r + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU, load average {load0:.2f} -> "
              f"{os.getloadavg()[0]:.2f}; IWAE NLL {res['nll']:.3f} ± {res['stderr']:.3f} nats (k={res['k']}, "
              f"n={res['n']})", flush=True)
    print(f"IWAE k={args.k} on {len(x)} images: median {statistics.median(walls):.1f} s wall "
          f"({statistics.median(cpus):.1f} s CPU) over {len(walls)} repeat(s)")

    if args.variants:
        xs = x[:1000]
        rows = []

        def timed(label, **kw):
            iwae.iwae_bound(run.model, xs[:16], k=args.k, seed=0)
            res, wall, cpu = _time(lambda: iwae.iwae_bound(run.model, xs, k=args.k, seed=0))
            rows.append((label, wall, cpu, res["nll"]))

        timed("production (x projected once per image, 8192-row chunks)")
        saved = iwae.IWAE_ROWS
        for rows_per_chunk in (2048, 32768):
            iwae.IWAE_ROWS = rows_per_chunk
            timed(f"chunks of {rows_per_chunk} rows")
        iwae.IWAE_ROWS = saved
        original = iwae._decoder_weights
        iwae._decoder_weights = lambda m: None
        timed("plain (decoder called as a Keras model, x . l per sample)")
        iwae._decoder_weights = original
        print(f"\nvariants on {len(xs)} images, k={args.k} (x10 for the full test set):")
        for label, wall, cpu, nll in rows:
            print(f"  {label:<62} {wall:6.1f} s wall  {cpu:6.1f} s CPU  NLL {nll:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
