"""Suite-wide fixtures: the sandbox (`sandbox`, `sandbox_factory`) from sandbox.testing."""

pytest_plugins = ["sandbox.testing"]
