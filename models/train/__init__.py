"""Training the card-embedding model: teacher → stage 1 distillation → stage 2 hard negatives → export.

Run as ``cardsight-train`` or ``python -m models.train`` (needs the ``train`` extra). See
``models/MODEL_CARD.md`` for the recipe and the evaluation of the shipped model.
"""
