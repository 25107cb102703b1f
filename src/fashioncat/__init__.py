"""Fashion category recognition: a DVC pipeline reproducing Tzikas et al."""

__version__ = "0.1.0"
