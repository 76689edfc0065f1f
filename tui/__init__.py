"""The Textual app: it renders core objects and turns keys into core calls; no business rules here."""
