"""Widgets shared by TuneDeck's screens."""
