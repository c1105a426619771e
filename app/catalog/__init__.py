"""Catalogues in pokemontcg.io's layout and the reference bundles built from them."""
