"""Control panels and dialogs of the main window."""
