"""OOD splits: declarative TOML files and the loader that checks and applies them."""
