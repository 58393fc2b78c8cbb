"""Local stand-ins for the vendors, speaking their real wire protocols on loopback."""
