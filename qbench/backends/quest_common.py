"""What both QuEST adapters (QuEST 4 from a source build, QuEST v3 from pyquest) share about noise."""
from __future__ import annotations

from qbench.circuits.noise import Noise


class QuestChannels:
    """QuEST applies channels to density matrices only, and refuses a channel past its maximally mixing
    point. A mixin before Backend; `strength_limits` is each version's {model: (limit, QuEST function)}."""

    strength_limits: dict[str, tuple[float, str]] = {}

    def refused_strength(self, spec) -> str | None:
        noise = Noise.of(spec)
        if noise.name in self.strength_limits and noise.strength > self.strength_limits[noise.name][0]:
            limit, function = self.strength_limits[noise.name]
            return (f"QuEST's {function} refuses {noise.name} strength {noise.strength:g} > {limit:g} "
                    f"(its maximally mixing limit)")
        return None

    def noise_details(self, circuit, spec):
        details = super().noise_details(circuit, spec)
        return {**details, "method": "density_matrix"} if details else details

    def density_matrix(self, spec) -> bool:
        return self.method == "density_matrix" or Noise.of(spec).noisy
