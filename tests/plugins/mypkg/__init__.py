"""A user's own package, as the extension tests install it in a project's src/."""
