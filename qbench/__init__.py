"""qbench: an honest benchmark harness for quantum circuit simulators."""

import warnings

__version__ = "0.1.0"

# conf/hydra/launcher/joblib.yaml deliberately replaces the stock joblib launcher config (same
# options, qbench's per-backend dispatch); Hydra 1.3 (pinned) validates it against the stock
# schema, as intended, but warns about that matching on every composition.
warnings.filterwarnings("ignore", message=r"(?s).*'hydra/launcher/joblib' is validated against ConfigStore schema")
