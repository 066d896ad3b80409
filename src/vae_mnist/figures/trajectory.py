"""The latent space over training as a still: small multiples of a recorded trajectory
(:class:`vae_mnist.measures.trajectory.Trajectory`), for print and for readers without JavaScript."""
from __future__ import annotations

from .style import PAGE_WIDTH_IN, new_figure, pad_range, readable


def shown_epochs(epochs: int, k: int = 6) -> list:
    """Up to ``k`` epochs for the small multiples: 0, 1, then roughly doubling, and the last."""
    picks = [0, 1, 2, 5, 10, 20, 30, 50, 100]
    out = [e for e in picks if e < epochs] + [epochs]
    out = sorted(set(out))
    while len(out) > k:
        out.pop(-2)
    return out


def small_multiples_figure(traj: Trajectory, epochs=None, per_row: int = 3):
    """Codes (coloured by digit, as Figure 4) above the decoded grid, at a few epochs, ``per_row`` epochs
    to a row; above each, the epoch, the mean KL to the prior and the k-NN vote's accuracy. Drawn in the
    book's figure style (:func:`vae_mnist.figures.paper.readable`, at most the page's width)."""
    epochs = shown_epochs(traj.epochs) if epochs is None else list(epochs)
    R = pad_range(traj.codes.reshape(-1, 2))
    sep, kl = traj.separation(), traj.kl()
    rows = -(-len(epochs) // per_row)
    cell = PAGE_WIDTH_IN / per_row
    fig = new_figure((PAGE_WIDTH_IN, rows * 2.15 * cell))
    grid = fig.add_gridspec(2 * rows, per_row)
    for j, e in enumerate(epochs):
        r, c = divmod(j, per_row)
        ax = fig.add_subplot(grid[2 * r, c])
        ax.scatter(traj.codes[e, :, 0], traj.codes[e, :, 1], c=traj.labels, cmap="tab10", vmin=-0.5, vmax=9.5,
                   s=3, linewidths=0)
        ax.set_xlim(-R, R)
        ax.set_ylim(-R, R)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"epoch {e}: KL {kl[e]:.1f}\n{traj.knn_k}-NN {100 * sep[e]:.0f} %")
        img = fig.add_subplot(grid[2 * r + 1, c])
        img.imshow(traj.grids[e], cmap="gray", vmin=0, vmax=255)
        img.axis("off")
    return readable(fig)
