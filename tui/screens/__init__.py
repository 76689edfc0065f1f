"""TuneDeck's screens, one module each."""
