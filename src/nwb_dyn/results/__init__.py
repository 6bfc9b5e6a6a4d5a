"""Everything a fit produced → a new derived NWB file; and reading results back."""
