"""The Textual app. Not built yet (issue 4): `tunedeck` with no arguments prints the CLI help."""
