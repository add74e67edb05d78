"""The `ssl-audio` commands: each module turns its flags into one call of a typed job function."""
