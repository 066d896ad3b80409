"""Train (or load from the run cache) the paper's three models and print their test numbers.

    python benchmarks/quality.py [--epochs 50] [--latent-dims 2 10 20] [--force]

Targets (issue 2): test negative ELBO <= 151 (z=2), 105.5 (z=10), 102.5 (z=20) after
50 epochs, batch 128, seed 0. Runs land in the normal run cache, so the book reuses them.
"""
import argparse
import sys

from vae_mnist import RunConfig
from vae_mnist.store.runs import get_run

TARGETS = {2: 151.0, 10: 105.5, 20: 102.5}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--latent-dims", type=int, nargs="+", default=[2, 10, 20])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    rows = []
    for z in args.latent_dims:
        run = get_run(RunConfig(latent_dim=z, epochs=args.epochs, seed=args.seed), force=args.force)
        rows.append((z, run.metrics))
    print()
    print(f"{'z':>3}  {'test -ELBO':>10}  {'rec':>8}  {'KL':>6}  {'target':>7}  {'s/epoch':>7}  verdict")
    ok = True
    for z, m in rows:
        target = TARGETS.get(z) if args.epochs == 50 else None
        verdict = "-" if target is None else ("PASS" if m["test_neg_elbo"] <= target else "FAIL")
        ok &= verdict != "FAIL"
        print(f"{z:>3}  {m['test_neg_elbo']:>10.2f}  {m['test_reconstruction']:>8.2f}  {m['test_kl']:>6.2f}  "
              f"{target if target else '':>7}  {m['seconds_per_epoch']:>7.2f}  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
