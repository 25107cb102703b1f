"""Figures, the paper-versus-ours report, the pull-request comment: reads metrics files, never models."""
