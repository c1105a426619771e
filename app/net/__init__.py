"""Network access: one polite HTTP client shared by every command that fetches (catalogue update,
prices, card images). Nothing here runs unless the user asks for a download."""
