"""Published numbers the book compares its models with, cited as printed, with their source.

The rows are Burda, Grosse and Salakhutdinov (2016), *Importance Weighted Autoencoders*, ICLR
(arXiv:1509.00519), **Table 1, MNIST columns**: test negative log-likelihood (nats, estimated with
the importance-weighted bound at k = 5000) and the number of active units, for VAEs and IWAEs
with one and two stochastic layers, trained with k = 1, 5 and 50 samples. At k = 1 the IWAE
objective is the VAE objective, so the two k = 1 rows are the same model.

How the figures were checked: the twelve test NLLs against a second transcription of the same
column (the README of github.com/nbip/IWAE, which prints the paper's values beside its own
reproduction), which agrees on all twelve; the active-unit counts are as printed in Table 1 and
were not found in a second transcription (check them against the PDF if in doubt).

How the settings below were checked (they decide the columns other than the results):

* networks and activation: the paper's experiments section and ``experiments.py`` / ``iwae.py``
  of the code released with the paper (github.com/yburda/iwae): one stochastic layer of 50 units between two
  deterministic tanh layers of 200 units in the encoder and in the decoder; two stochastic
  layers: 784-200-200-100 then 100-100-100-50 in the encoder, mirrored in the decoder;
* training: Adam, minibatches of 20, eight stages of 3^i passes over the data (i = 0 .. 7,
  learning rate 0.001 * 10^(-i/7)), 3,280 passes in all;
* data: MNIST binarized dynamically (each training minibatch re-drawn as Bernoulli(intensity)),
  the test set drawn once with a fixed seed;
* active units: unit u is active when Var_x(E_q[z_u | x]) > 0.01; their code takes the variance
  over 500 binarized training images, this book over the 10,000 binarized test images.

The published rows are data, not computed; the chapter ``book/beyond/published.md`` and the
tests read them from here, so both use the same figures. The helpers below only look rows up,
count the published networks' parameters and word a comparison.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

#: The citation key in ``book/references.bib`` and the table the rows come from.
SOURCE = "burda2016iwae"
SOURCE_TABLE = "Table 1"
#: k of the importance-weighted bound the published test NLLs were estimated with.
PUBLISHED_EVAL_K = 5000
#: Passes over the training data in Burda et al.'s schedule: 3^i for i = 0 .. 7.
BURDA_STAGES = 8
BURDA_PASSES = sum(3 ** i for i in range(BURDA_STAGES))
BURDA_BATCH_SIZE = 20
BURDA_ACTIVATION = "tanh"
#: Threshold on Var_x(E_q[z_u | x]) above which a latent unit counts as active.
ACTIVE_UNIT_THRESHOLD = 0.01

#: Burda et al.'s networks (from ``experiments.py`` of their code) as chains (input, hidden sizes,
#: output) per stochastic layer: ``q`` from the image up, ``p`` from the top latent down. A
#: Gaussian layer has two heads (mean and sigma) of the output size; the last ``p`` chain has one
#: Bernoulli head (the 784 pixel probabilities).
ARCHITECTURES = {
    1: {"q": [(784, (200, 200), 50)], "p": [(50, (200, 200), 784)]},
    2: {"q": [(784, (200, 200), 100), (100, (100, 100), 50)],
        "p": [(50, (100, 100), 100), (100, (200, 200), 784)]},
}


def parameter_count(stochastic_layers: int) -> int:
    """Weights and biases of Burda et al.'s network with 1 or 2 stochastic layers."""
    total = 0
    for part in ("q", "p"):
        chains = ARCHITECTURES[stochastic_layers][part]
        for i, (n_in, hidden, n_out) in enumerate(chains):
            sizes = (n_in,) + tuple(hidden)
            total += sum(a * b + b for a, b in zip(sizes, sizes[1:]))
            heads = 1 if (part == "p" and i == len(chains) - 1) else 2
            total += heads * (sizes[-1] * n_out + n_out)
    return total


NETWORKS = {
    1: "784–200–200–50, decoder mirrored (tanh)",
    2: "784–200–200–100–100–100–50, decoder mirrored (tanh)",
}
LATENTS = {1: "50", 2: "100 + 50"}


@dataclasses.dataclass(frozen=True)
class PublishedRow:
    """One published result, as printed."""

    objective: str            # "VAE" or "IWAE"
    stochastic_layers: int    # 1 or 2
    train_k: int              # samples per data point in the training objective
    test_nll: float           # nats, IWAE bound with k = PUBLISHED_EVAL_K
    active_units: str         # as printed: "19", or "16+5" for (first layer)+(second layer)
    source: str = SOURCE
    table: str = SOURCE_TABLE

    @property
    def network(self) -> str:
        return NETWORKS[self.stochastic_layers]

    @property
    def latent(self) -> str:
        return LATENTS[self.stochastic_layers]

    @property
    def passes(self) -> int:
        return BURDA_PASSES

    @property
    def total_active_units(self) -> int:
        return sum(int(part) for part in self.active_units.split("+"))

    def label(self) -> str:
        layers = "one stochastic layer" if self.stochastic_layers == 1 else "two stochastic layers"
        return f"{self.objective}, k = {self.train_k} ({layers})"


def _rows(objective: str, layers: int, values: Sequence[Tuple[int, float, str]]) -> List[PublishedRow]:
    return [PublishedRow(objective, layers, k, nll, au) for k, nll, au in values]


#: Burda et al. (2016), Table 1, MNIST: (training k, test NLL, active units), as printed.
BURDA2016_TABLE1_MNIST: Tuple[PublishedRow, ...] = tuple(
    _rows("VAE", 1, [(1, 86.76, "19"), (5, 86.47, "20"), (50, 86.35, "20")])
    + _rows("IWAE", 1, [(1, 86.76, "19"), (5, 85.54, "22"), (50, 84.78, "25")])
    + _rows("VAE", 2, [(1, 85.33, "16+5"), (5, 85.01, "17+5"), (50, 84.78, "17+5")])
    + _rows("IWAE", 2, [(1, 85.33, "16+5"), (5, 83.89, "21+5"), (50, 82.90, "26+7")])
)


def published_rows() -> List[PublishedRow]:
    """The published rows, in the order of the source table."""
    return list(BURDA2016_TABLE1_MNIST)


def published(objective: str, stochastic_layers: int, train_k: int) -> PublishedRow:
    """The published row for one model (e.g. ``published("VAE", 1, 1)``)."""
    for row in BURDA2016_TABLE1_MNIST:
        if (row.objective, row.stochastic_layers, row.train_k) == (objective, stochastic_layers, train_k):
            return row
    raise KeyError(f"no published row for {objective}, {stochastic_layers} layer(s), k = {train_k}")


#: The published model closest to this book's: the VAE objective (k = 1), one stochastic layer.
def closest_published() -> PublishedRow:
    return published("VAE", 1, 1)


def best_published() -> PublishedRow:
    """The lowest published test NLL of the table."""
    return min(BURDA2016_TABLE1_MNIST, key=lambda r: r.test_nll)


def standing(our_nll: float, our_stderr: Optional[float], reference: PublishedRow) -> dict:
    """Where a model of ours stands against a published row: difference in nats and its wording.

    ``difference`` is ours minus theirs (positive: ours is worse, lower NLL is better).
    ``within_noise`` is True when the difference is smaller than two of our standard errors (the
    published figures come without one), and ``words`` says it in a sentence fragment, e.g.
    ``"3.21 nats above"``.
    """
    diff = float(our_nll) - reference.test_nll
    noise = 2.0 * float(our_stderr) if our_stderr is not None else 0.0
    within = abs(diff) < noise
    if within:
        words = f"within two of our own standard errors ({abs(diff):.2f} nats {'above' if diff > 0 else 'below'}; the published figure comes without one)"
    else:
        words = f"{abs(diff):.2f} nats {'above' if diff > 0 else 'below'}"
    return {"difference": diff, "within_noise": within, "words": words}


__all__ = ["SOURCE", "SOURCE_TABLE", "PUBLISHED_EVAL_K", "BURDA_PASSES", "BURDA_STAGES", "BURDA_BATCH_SIZE",
           "BURDA_ACTIVATION", "ACTIVE_UNIT_THRESHOLD", "PublishedRow", "BURDA2016_TABLE1_MNIST",
           "published_rows", "published", "closest_published", "best_published", "standing", "ARCHITECTURES",
           "parameter_count"]
