"""koho-gateway: policy-enforcing publisher of municipal messages to social media."""

__version__ = "0.1.0"
