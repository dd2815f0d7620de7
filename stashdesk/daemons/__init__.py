"""The automation daemons and the framework they share."""
