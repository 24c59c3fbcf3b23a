"""The contractor's job pages behind signed links (/j/<token>)."""
