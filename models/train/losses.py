"""Losses: normalised-softmax proxies (teacher), similarity-distribution KL + MSE (distillation),
semi-hard triplets (hard-negative stage). Embeddings are L2-normalised everywhere."""

from __future__ import annotations

import torch
from torch import nn


def proxy_softmax_loss(
    emb: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, scale: float, margin: float = 0.0
) -> torch.Tensor:
    """Cosine classifier over one learnable proxy per training card, with an additive cosine margin
    (CosFace): a view must be ``margin`` closer to its own card than to any other to cost nothing."""
    cosine = emb @ nn.functional.normalize(proxies, dim=1).t()
    cosine = cosine - margin * nn.functional.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
    return nn.functional.cross_entropy(scale * cosine, labels)


def similarity_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(P_teacher ‖ P_student) between each sample's softmax over its similarities to the rest of
    the batch: the student learns the teacher's *neighbourhood structure*, not just its vectors."""
    n = student.shape[0]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=student.device)
    s = (student @ student.t() / temperature)[off_diagonal].view(n, n - 1)
    t = (teacher @ teacher.t() / temperature)[off_diagonal].view(n, n - 1)
    return nn.functional.kl_div(
        nn.functional.log_softmax(s, dim=1), nn.functional.log_softmax(t, dim=1), log_target=True, reduction="batchmean"
    )


def embedding_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared L2 distance between the student's and the teacher's unit embeddings (= 2 − 2cos)."""
    return ((student - teacher) ** 2).sum(dim=1).mean()


def semi_hard_triplet_loss(
    emb: torch.Tensor, labels: torch.Tensor, margin: float, positives: int, negatives: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """For every anchor (label ≥ 0), up to ``positives`` positives and, per (anchor, positive), the
    ``negatives`` closest *semi-hard* negatives (farther than the positive, within the margin); where
    too few are semi-hard, the hardest of the rest fill in. Negative labels (< 0) are
    negatives-only samples (cards outside the catalogue). Distance: squared L2 on unit vectors."""
    dist = (2 - 2 * emb @ emb.t()).clamp_min(0)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    losses: list[torch.Tensor] = []
    semi_hard_used = total_used = 0
    for a in torch.nonzero(labels >= 0).flatten().tolist():
        pos = torch.nonzero(same[a] & ~eye[a]).flatten()[:positives]
        neg_mask = ~same[a]
        if len(pos) == 0 or not bool(neg_mask.any()):
            continue
        d_an = dist[a]
        for p in pos.tolist():
            d_ap = dist[a, p]
            semi = neg_mask & (d_an > d_ap) & (d_an < d_ap + margin)
            # Order: semi-hard first (closest first), then the other negatives by distance.
            key = torch.where(semi, d_an, d_an + 10.0).masked_fill(~neg_mask, float("inf"))
            k = min(negatives, int(neg_mask.sum()))
            chosen = torch.topk(key, k, largest=False).indices
            semi_hard_used += int(semi[chosen].sum())
            total_used += k
            losses.append(nn.functional.relu(d_ap - d_an[chosen] + margin))
    if not losses:
        return emb.sum() * 0.0, {"semi_hard_fraction": 0.0, "active_fraction": 0.0}
    all_losses = torch.cat(losses)
    stats = {
        "semi_hard_fraction": semi_hard_used / max(total_used, 1),
        "active_fraction": float((all_losses > 0).float().mean()),
    }
    return all_losses.mean(), stats
