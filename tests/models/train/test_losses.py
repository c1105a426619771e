from __future__ import annotations

import math

import torch

from models.train.losses import embedding_mse, proxy_softmax_loss, semi_hard_triplet_loss, similarity_kl


def unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_similarity_kl_is_zero_only_when_the_student_matches_the_teachers_neighbourhoods() -> None:
    teacher = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    assert float(similarity_kl(teacher, teacher, 0.1)) < 1e-6
    student = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(1)), dim=1)
    student.requires_grad_(True)
    loss = similarity_kl(student, teacher, 0.1)
    assert float(loss.detach()) > 0.05
    loss.backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0


def test_embedding_mse_is_two_minus_two_cosine_for_unit_vectors() -> None:
    a, b = unit([1.0, 0.0]), unit([math.cos(0.5), math.sin(0.5)])
    assert abs(float(embedding_mse(a, b)) - (2 - 2 * math.cos(0.5))) < 1e-6


def test_triplet_loss_picks_the_semi_hard_negative_over_easy_and_hard_ones() -> None:
    # anchor, positive at squared distance ~0.04; negatives: hard (closer than the positive),
    # semi-hard (within the margin), easy (beyond it).
    anchor = [1.0, 0.0]
    positive = [math.cos(0.2), math.sin(0.2)]  # d = 2 - 2cos(0.2) ≈ 0.0399
    hard = [math.cos(0.1), -math.sin(0.1)]  # d ≈ 0.0100
    semi = [math.cos(0.3), -math.sin(0.3)]  # d ≈ 0.0893 (< 0.0399 + 0.2)
    easy = [math.cos(1.2), -math.sin(1.2)]  # d ≈ 1.275
    emb = unit(anchor, positive, hard, semi, easy)
    labels = torch.tensor([0, 0, -1, -2, -3])  # negatives-only samples never act as anchors
    loss, stats = semi_hard_triplet_loss(emb, labels, margin=0.2, positives=2, negatives=1)
    d = lambda u, v: 2 - 2 * float(torch.dot(u, v))  # noqa: E731
    expected_anchor = d(emb[0], emb[1]) - d(emb[0], emb[3]) + 0.2  # anchor 0, positive 1, semi-hard 3
    # Seen from the positive (angle 0.2), the negative at −0.1 is the semi-hard one.
    expected_positive = d(emb[1], emb[0]) - d(emb[1], emb[2]) + 0.2
    assert stats["semi_hard_fraction"] == 1.0
    assert abs(float(loss) - (expected_anchor + expected_positive) / 2) < 1e-5


def test_triplet_loss_falls_back_to_the_hardest_negatives_when_none_is_semi_hard() -> None:
    emb = unit([1.0, 0.0], [0.0, 1.0], [1.0, 0.01])  # the only negative is closer than the positive
    loss, stats = semi_hard_triplet_loss(emb, torch.tensor([0, 0, 1]), margin=0.2, positives=2, negatives=8)
    assert stats["semi_hard_fraction"] == 0.0
    assert float(loss) > 0.2


def test_proxy_loss_prefers_embeddings_near_their_own_card_proxy() -> None:
    proxies = unit([1.0, 0.0], [0.0, 1.0])
    right = proxy_softmax_loss(unit([1.0, 0.1]), torch.tensor([0]), proxies, scale=16)
    wrong = proxy_softmax_loss(unit([1.0, 0.1]), torch.tensor([1]), proxies, scale=16)
    assert float(right) < 0.01 < float(wrong)
