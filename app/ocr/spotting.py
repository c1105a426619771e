"""How well a known collector number explains what the recogniser saw (pure functions, no OCR engine).

The recogniser (PP-OCRv4 rec, CTC) gives, for each of ~T horizontal steps of a text line, a
probability for every character and for "blank". Its greedy reading ("056/102") is the most likely
character per step; a misread digit is often the second choice at that step. So instead of asking
"does the reading parse as candidate A's number?", ask "how much less likely than the greedy reading
is the best alignment of A's printed number somewhere in this line?":

    fit(A) = max over alignments [log p(A's characters and blanks)] − Σ_t log max_c p_t(c)

with the rest of the line free (text before and after the number costs nothing). ``fit`` is 0 when
the greedy reading contains A's number, a little below 0 when a digit the recogniser was unsure of
differs, and far below 0 when it saw, confidently, another number. The difference between two
candidates' fits is a log likelihood ratio: ``app/ocr/rerank.py`` takes an exact read as splitting
two printings only when it is large — a 5 read where a 6 was nearly as likely decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from app.ocr.number import CollectorNumber

LogProbs = npt.NDArray[np.float32]

#: Floor for probabilities before the log (the model's softmax can underflow to 0).
_EPS = 1e-8


def printed_forms(number: CollectorNumber) -> list[str]:
    """The ways a catalogue number is printed: ``25``/``165`` → ``025/165`` and ``25/165``;
    ``TG5``/``TG30`` → ``TG05/TG30``, ``TG5/TG30``; a promo ``SWSH20`` → ``SWSH020``, ``SWSH20``."""
    head = number.number.rstrip("0123456789")
    digits = number.number[len(head) :]
    forms: list[str] = []
    if number.printed_total:
        total = number.printed_total
        total_head = total.rstrip("0123456789")
        width = len(total) - len(total_head)
        padded = digits.lstrip("0").zfill(width) if digits else digits
        for d in dict.fromkeys([padded, digits.lstrip("0") or "0", digits]):
            forms.append(f"{head}{d}/{total}")
    else:
        for d in dict.fromkeys([digits.lstrip("0").zfill(3), digits.lstrip("0") or "0", digits]):
            forms.append(f"{head}{d}")
    return forms


def keyword_fit(
    log_probs: LogProbs, label: list[int], blank: int = 0, not_after: npt.NDArray[np.bool_] | None = None
) -> float:
    """``fit`` (above) of the character indices ``label`` in a line's (T, C) log-probabilities.

    Viterbi over: free text before → the label's characters, each on one or more steps, blanks
    allowed between them (required between two equal characters) → free text after. "Free" steps
    cost what the greedy reading pays for them, so the result is ≤ 0. ``-inf`` when the line is
    shorter than the label needs.

    ``not_after``: columns (a boolean mask) that may not be read right before the label — digits, for
    an unpadded number: "3/162" must not pass inside "073/162"."""
    steps = log_probs.shape[0]
    if not label or steps < len(label):
        return float("-inf")
    best = log_probs.max(axis=1)
    # States: 2k = on character k; 2k+1 = on a blank after character k (k = 0..L-1).
    n_states = 2 * len(label)
    emit = np.empty((steps, n_states), np.float64)
    for k, char in enumerate(label):
        emit[:, 2 * k] = log_probs[:, char]
        emit[:, 2 * k + 1] = log_probs[:, blank]
    neg = float("-inf")
    differs = np.array([label[k] != label[k - 1] for k in range(1, len(label))], bool)
    score = np.full(n_states, neg)
    prefix = 0.0  # the free text before the label: the greedy reading's own score so far
    if not_after is not None:
        allowed = np.where(not_after[np.newaxis, :], float("-inf"), log_probs)
        allowed[:, blank] = float("-inf")
        best_allowed = allowed.max(axis=1)  # the best character that may end the free text
        keep = np.maximum(log_probs[:, blank], best_allowed)  # a blank keeps what was read last
    clean = 0.0  # free text so far whose last character read may precede the label
    finished = neg  # the label complete, followed by free text
    for t in range(steps):
        new = score.copy()  # stay on a state
        # Character k from: the start (after free text), the blank after character k-1, or character
        # k-1 itself when the two differ (CTC merges repeats that no blank separates).
        new[0] = max(new[0], prefix if not_after is None else clean)
        new[2::2] = np.maximum(new[2::2], score[1:-1:2])
        new[2::2] = np.maximum(new[2::2], np.where(differs, score[0:-2:2], neg))
        # A blank after character k follows character k.
        new[1::2] = np.maximum(new[1::2], score[0::2])
        new += emit[t]
        # Free text after the label: it ended on the previous step (its trailing blanks are free too).
        finished = max(finished, score[n_states - 2]) + best[t]
        score = new
        if not_after is not None:
            clean = max(clean + float(keep[t]), prefix + float(best_allowed[t]))
        prefix += best[t]
    end = max(finished, score[n_states - 2])
    return float(end - best.sum())


def number_fit(lines: list[LogProbs], number: CollectorNumber, alphabet: Mapping[str, int]) -> float:
    """The best ``fit`` of any printed form of ``number`` in any of ``lines``; ``-inf`` when a form
    uses a character the recogniser does not know. Forms shorter than the padded one must not follow
    a digit (their leading zeros were not printed, so a digit there belongs to another number)."""
    fit = float("-inf")
    forms = printed_forms(number)
    if not lines or not alphabet:
        return fit
    digits = np.zeros(lines[0].shape[1], bool)
    for c in "0123456789":
        if c in alphabet and alphabet[c] < digits.size:
            digits[alphabet[c]] = True
    for form in forms:
        if any(c not in alphabet for c in form):
            continue
        label = [alphabet[c] for c in form]
        guard = None if len(form) == len(forms[0]) else digits
        for line in lines:
            fit = max(fit, keyword_fit(line, label, not_after=guard))
    return fit


def log_probs_from(probs: npt.NDArray[np.float32]) -> LogProbs:
    """The recogniser's softmax output for one line, (T, C), as log-probabilities."""
    return np.log(np.maximum(np.asarray(probs, np.float64), _EPS)).astype(np.float32)
