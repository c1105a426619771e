"""The card catalogue: every known set and card (``database``), catalogues in pokemontcg.io's layout and
the reference bundles built from them, and the ``catalog`` commands."""
