"""Market prices: sources behind one contract (:mod:`app.prices.base`), the price table with history
(:mod:`app.prices.table`) and what the collection is worth (:mod:`app.prices.value`).

Nothing here touches the network unless :mod:`app.prices.pokemontcg` is asked to fetch."""
