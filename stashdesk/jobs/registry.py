"""Imports every job module so each registers its job type with the runner."""
