"""propdesk: a risk console for automated strategies on funded prop-firm futures accounts."""

__version__ = "0.1.0"
