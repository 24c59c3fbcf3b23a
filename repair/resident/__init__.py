"""The resident's pages: QR landing, report form, confirmation and tracking."""
