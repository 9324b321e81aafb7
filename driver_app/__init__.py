"""The driver application: headless pipeline, CLI and Qt tray shell (the only Qt importer)."""
