"""What a run leaves behind: the record schema and its atomic writes, progress lines, MLflow
tracking, the sweep summary, report and charts. Depends on circuits only, never on a layer above."""
