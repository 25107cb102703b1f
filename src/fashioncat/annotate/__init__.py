"""Using a trained model: the annotator bundle, the `annotate` command and the label-issue finder."""
