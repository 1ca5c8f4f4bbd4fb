"""The operators of the AOT fixture package."""
